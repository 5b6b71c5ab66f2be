"""Shared fixtures and helpers. Importing mmcofnet registers every component in mmdet's registries.

Test modules import the helpers with ``from conftest import load_tool, run_tool``.

Markers (declared in setup.cfg): ``slow`` for tests that take seconds or run a subprocess
(``-m "not slow"`` leaves them out), ``cuda`` for tests that need a CUDA device (skipped here
without one).
"""

from __future__ import annotations

import importlib.util
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmdet.utils import register_all_modules
from mmengine.config import Config

import mmcofnet  # noqa: F401

# Outside a Runner, builders look up names in the default scope: make it mmdet's, as configs do.
register_all_modules(init_default_scope=True)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# Images and boxes from disk, nothing else: what a dataset holds, as arrays.
LOAD_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True)]


def pytest_runtest_setup(item):
    if item.get_closest_marker('cuda') is not None:
        import torch

        if not torch.cuda.is_available():
            pytest.skip('needs a CUDA device')


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO_ROOT


def run_tool(
    repo_root: str, *args: str, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Runs ``python ARGS`` in the repository; a non-zero exit fails with the output's tail.

    ``env`` adds to the environment; a ``PYTHONPATH`` there is put before the repository.
    """
    env = {**os.environ, **(env or {})}
    env['PYTHONPATH'] = os.pathsep.join(p for p in (env.get('PYTHONPATH'), repo_root) if p)
    proc = subprocess.run(
        [sys.executable, *args], cwd=repo_root, env=env, capture_output=True, text=True, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc


def load_tool(repo_root: str, path: str):
    """Imports a script under tools/ (not a package) as a module.

    Its folder goes on ``sys.path`` as when the script runs, for the helpers beside it (``_cli``).
    """
    name = osp.splitext(osp.basename(path))[0] + '_under_test'
    folder = osp.dirname(osp.join(repo_root, path))
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(name, osp.join(repo_root, path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


# Smoke-size versions of real configs: tiny images, a few iterations, no worker processes.
SMOKE_OVERRIDES = """
img_size = (256, 192)
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(num_images=8, img_size=img_size))
val_dataloader = dict(
    num_workers=0, persistent_workers=False, dataset=dict(num_images=3, img_size=img_size))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=4, val_interval=4)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
# An untrained model scores everything low: keep all boxes so that the metric has results.
model = dict(test_cfg=dict(score_thr=0.0))
"""
# mmdet's dense heads also drop boxes under min_bbox_size (COFNet's head keeps every box of
# positive size and takes no such key).
DENSE_HEAD_SMOKE_OVERRIDES = 'model = dict(test_cfg=dict(score_thr=0.0, min_bbox_size=-1))\n'


@pytest.fixture(scope='session')
def write_smoke_config():
    """``write(config, out_dir) -> path`` of a config inheriting ``config`` at smoke size."""

    def write(config: str, out_dir) -> str:
        path = osp.join(str(out_dir), osp.basename(config).replace('.py', '_smoke.py'))
        overrides = SMOKE_OVERRIDES
        if Config.fromfile(osp.join(REPO_ROOT, config)).model.type != 'COFNet':
            overrides += DENSE_HEAD_SMOKE_OVERRIDES
        with open(path, 'w') as f:
            f.write(f'_base_ = {osp.join(REPO_ROOT, config)!r}\n{overrides}')
        return path

    return write


def objectness_logits(peaks: dict, num_classes: int = 3, shape=(8, 12)):
    """``[1, K + 4, H, W]`` objectness-map logits: -5 everywhere but at ``peaks`` in class 1.

    ``peaks`` is ``{(y, x): (logit, log_w, log_h[, dx, dy])}``; sizes are 1 stride and centres
    mid-cell (offsets 0.5) where not given.
    """
    import torch

    logits = torch.full((1, num_classes + 4, *shape), -5.0)
    logits[:, num_classes : num_classes + 2], logits[:, num_classes + 2 :] = 0.0, 0.5
    for (y, x), (value, *geometry) in peaks.items():
        logits[0, 1, y, x] = value
        logits[0, num_classes : num_classes + len(geometry), y, x] = torch.tensor(geometry)
    return logits


def evaluate_ground_truth(dataset, evaluator_cfg) -> dict:
    """Metrics of the ground truth predicted as it is (score 1), with an evaluator config.

    ``dataset`` must pack its samples (``PackDetInputs``); a right evaluator gives mAP 1.
    """
    import torch
    from mmdet.registry import METRICS
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    metric = METRICS.build(evaluator_cfg)
    metric.dataset_meta = dataset.metainfo
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        out = DetDataSample(metainfo=sample.metainfo)
        out.pred_instances = InstanceData(
            bboxes=sample.gt_instances.bboxes.tensor,
            scores=torch.ones(len(sample.gt_instances)),
            labels=sample.gt_instances.labels,
        )
        metric.process({}, [out.to_dict()])
    return metric.evaluate(len(dataset))


def random_checkpoint(cfg_or_model, path, dataset_meta: dict | None = None, seed: int = 0):
    """Saves an untrained detector's weights as a checkpoint at ``path``; returns the model.

    ``cfg_or_model`` is a detector, a :class:`~mmengine.config.Config` or a config file. A config
    is built after ``torch.manual_seed(seed)`` as the tools build a model without a checkpoint
    (:func:`mmcofnet.apis.build_detector`: ``init_weights()``, nothing pretrained, eval mode).
    ``dataset_meta`` (class names, palette) goes into the checkpoint's meta, where mmdet's
    inferencers read it.
    """
    import torch

    from mmcofnet.apis import build_detector

    model = cfg_or_model
    if not isinstance(model, torch.nn.Module):
        cfg = model if isinstance(model, Config) else Config.fromfile(str(model))
        torch.manual_seed(seed)
        model = build_detector(cfg)
    meta = {} if dataset_meta is None else dict(dataset_meta=dataset_meta)
    torch.save(dict(state_dict=model.state_dict(), meta=meta), str(path))
    return model
