"""Self-supervised pretraining end to end: each pretraining config trains a few iterations with
tools/train.py and writes weights that COFNet loads (smoke size)."""

import os
import os.path as osp

import pytest
import torch
from conftest import run_tool
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.runner import load_checkpoint

pytestmark = pytest.mark.slow

HALMSTAD_SKY = os.environ.get(
    'HALMSTAD_SKY_ROOT',
    osp.join(
        osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
        '..',
        'shared',
        'data',
        'halmstad-sky',
    ),
)

SMOKE = """
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        pipeline=[
            dict(type='LoadFramePair'),
            dict(type='PairRandomCrop', crop_size=(128, 128)),
            dict(type='PairRandomFlip', prob=0.5),
            dict(type='MotionTargets'),
            dict(type='PackPairInputs'),
        ],
        **DATASET,
    ),
)
train_cfg = dict(max_iters=4)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
custom_hooks = [
    dict(type='SSLLossWeightHook', schedule=dict(temporal=dict(start=1, end=3, value=1.0))),
    dict(type='PretrainedWeightsHook', out='pretrained.pth'),
]
"""


def write_config(repo_root, tmp_path, config, dataset):
    path = tmp_path / osp.basename(config).replace('.py', '_smoke.py')
    smoke = SMOKE.replace('**DATASET', dataset)
    path.write_text(f'_base_ = {osp.join(repo_root, config)!r}\n{smoke}')
    return str(path)


def pretrain_and_load(repo_root, tmp_path, config, dataset, finetune_config):
    work_dir = str(tmp_path / 'work')
    proc = run_tool(
        repo_root,
        'tools/train.py',
        write_config(repo_root, tmp_path, config, dataset),
        '--work-dir',
        work_dir,
    )
    log = proc.stdout + proc.stderr
    assert 'loss_motion' in log and 'loss_temporal' in log
    exported = osp.join(work_dir, 'pretrained.pth')
    state = torch.load(exported, map_location='cpu', weights_only=True)['state_dict']
    assert state and all(
        k.startswith(('backbone.', 'neck.', 'bbox_head.objectness.')) for k in state
    )
    # The fine-tuning config's detector takes every pretrained key, with its shape.
    model = MODELS.build(Config.fromfile(osp.join(repo_root, finetune_config)).model)
    wanted = {
        k: v.shape
        for k, v in model.state_dict().items()
        if k.startswith(('backbone.', 'neck.', 'bbox_head.objectness.'))
    }
    assert {k: v.shape for k, v in state.items()} == wanted
    load_checkpoint(model, exported, map_location='cpu', strict=False)
    torch.testing.assert_close(
        model.bbox_head.objectness.out.weight, state['bbox_head.objectness.out.weight']
    )


def test_pretraining_on_rendered_sky_video(repo_root, tmp_path):
    dataset = (
        'synthetic=dict(num_clips=2, img_size=(256, 192), seed=0, num_frames=8), pairs_per_clip=2'
    )
    pretrain_and_load(
        repo_root,
        tmp_path,
        'configs/cofnet/cofnet_nano_ssl-pretrain_sky-synth-video.py',
        dataset,
        'configs/cofnet/cofnet_nano_ssl-finetune_sky-synth.py',
    )


@pytest.mark.skipif(
    not osp.isdir(osp.join(HALMSTAD_SKY, 'videos')),
    reason='halmstad-sky not found (set HALMSTAD_SKY_ROOT)',
)
def test_pretraining_on_halmstad_sky_video(repo_root, tmp_path):
    root = osp.abspath(HALMSTAD_SKY) + '/'
    dataset = f"data_root={root!r}, video_glob='videos/val/*.mp4', pairs_per_clip=1"
    pretrain_and_load(
        repo_root,
        tmp_path,
        'configs/cofnet/cofnet_nano_ssl-pretrain_halmstad-video.py',
        dataset,
        'configs/cofnet/cofnet_nano_ssl-finetune_halmstad.py',
    )
