"""Every config in configs/ parses, builds its model and runs it; the CPU ones also train."""

import glob
import os.path as osp
import subprocess
import sys

import pytest
import torch
from conftest import REPO_ROOT
from mmdet.registry import MODELS
from mmengine.config import Config

CONFIGS = sorted(
    osp.relpath(p, REPO_ROOT)
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p and f'{osp.sep}deploy{osp.sep}' not in p  # MMDeploy's own configs
)


def _plain_bn(cfg):
    """SyncBN needs a process group; the same model with BN runs on one CPU."""
    if isinstance(cfg, dict):
        return {
            k: (dict(type='BN') if k == 'norm_cfg' and v.get('type') == 'SyncBN' else _plain_bn(v))
            for k, v in cfg.items()
        }
    return cfg


@pytest.mark.slow  # builds every model, up to the small presets: 1-17 s each
@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds_a_working_model(config):
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    model = MODELS.build(_plain_bn(cfg.model.to_dict())).eval()
    with torch.no_grad():
        outputs = model._forward(torch.randn(1, 3, 96, 128))
    if cfg.model.type == 'COFNetSSL':  # the objectness map of the frame: [B, K + 4, H / 8, W / 8]
        assert outputs.shape == (1, cfg.model.objectness.num_classes + 4, 12, 16)
        return
    cls_scores = outputs[0]
    num_classes = cfg.model.bbox_head.num_classes
    if cfg.model.type == 'COFNet':  # class logits of every box: [B, N, K]
        assert cls_scores.shape == (1, cfg.model.bbox_head.num_proposals, num_classes)
    else:  # dense maps per level: [B, K, H, W]
        assert cls_scores[0].shape[:2] == (1, num_classes)


STUDY_CONFIGS = [
    c
    for c in CONFIGS
    if c.startswith(('configs/ablations/', 'configs/cofnet/cofnet_nano'))
    and 'sky-synth' in c
    and '_ssl-' not in c  # pretraining and fine-tuning: tests/test_tools/test_ssl_pretraining.py
]


@pytest.mark.slow
@pytest.mark.parametrize('config', STUDY_CONFIGS)
def test_study_config_trains_and_evaluates(config, write_smoke_config, tmp_path):
    smoke = write_smoke_config(config, tmp_path)
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', smoke, '--work-dir', str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'coco/bbox_mAP' in log and osp.isfile(tmp_path / 'iter_4.pth')
