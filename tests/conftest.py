"""Shared fixtures and helpers. Importing mmcofnet registers every component in mmdet's registries.

Test modules import the helpers with ``from conftest import load_tool, run_tool``.
"""

import importlib.util
import os.path as osp
import subprocess
import sys

import pytest
from mmdet.utils import register_all_modules

import mmcofnet  # noqa: F401

# Outside a Runner, builders look up names in the default scope: make it mmdet's, as configs do.
register_all_modules(init_default_scope=True)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO_ROOT


def run_tool(repo_root: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs ``python ARGS`` in the repository; a non-zero exit fails with the output's tail."""
    proc = subprocess.run(
        [sys.executable, *args], cwd=repo_root, capture_output=True, text=True, timeout=600
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
model = dict(test_cfg=dict(score_thr=0.0, min_bbox_size=-1))
"""


@pytest.fixture(scope='session')
def write_smoke_config():
    """``write(config, out_dir) -> path`` of a config inheriting ``config`` at smoke size."""

    def write(config: str, out_dir) -> str:
        path = osp.join(str(out_dir), osp.basename(config).replace('.py', '_smoke.py'))
        with open(path, 'w') as f:
            f.write(f'_base_ = {osp.join(REPO_ROOT, config)!r}\n{SMOKE_OVERRIDES}')
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
