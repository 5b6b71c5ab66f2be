"""tools/train.py, --resume and tools/test.py end to end on the baseline (smoke size).

Every test that runs a tool is marked slow; the in-process checks are not.
"""

import json
import os.path as osp
import pickle

import pytest
import torch
from conftest import run_tool

BASELINE = 'configs/baselines/rtmdet_tiny_sky-synth.py'


@pytest.fixture(scope='module')
def smoke_config(write_smoke_config, tmp_path_factory):
    return write_smoke_config(BASELINE, tmp_path_factory.mktemp('config'))


@pytest.fixture(scope='module')
def trained(repo_root, smoke_config, tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('train'))
    proc = run_tool(repo_root, 'tools/train.py', smoke_config, '--work-dir', work_dir)
    return work_dir, proc.stdout + proc.stderr


@pytest.mark.slow
def test_train_writes_checkpoints_and_evaluates(trained):
    work_dir, log = trained
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth'))
    assert 'coco/bbox_mAP' in log


@pytest.mark.slow
def test_checkpoint_loads_with_torch_safe_loader(trained):
    # torch >= 2.6 loads with weights_only=True; mmcofnet allow-lists mmengine's extra types.
    ckpt = torch.load(osp.join(trained[0], 'iter_4.pth'), map_location='cpu', weights_only=True)
    assert ckpt['meta']['iter'] == 4 and 'message_hub' in ckpt and 'optimizer' in ckpt


@pytest.mark.slow
def test_resume_continues_from_the_saved_iteration(repo_root, smoke_config, trained):
    work_dir = trained[0]
    proc = run_tool(
        repo_root,
        'tools/train.py',
        smoke_config,
        '--work-dir',
        work_dir,
        '--resume',
        '--cfg-options',
        'train_cfg.max_iters=6',
        'train_cfg.val_interval=6',
    )
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 0, iter: 4' in log
    assert 'Iter(train) [5/6]' in log and 'Iter(train) [1/6]' not in log
    assert osp.isfile(osp.join(work_dir, 'iter_6.pth'))


@pytest.mark.slow
def test_test_tool_prints_metrics_and_dumps_results(repo_root, smoke_config, trained, tmp_path):
    work_dir = trained[0]
    out = str(tmp_path / 'results.pkl')
    show_dir = 'vis'
    proc = run_tool(
        repo_root,
        'tools/test.py',
        smoke_config,
        osp.join(work_dir, 'iter_4.pth'),
        '--work-dir',
        str(tmp_path),
        '--out',
        out,
        '--show-dir',
        show_dir,
    )
    log = proc.stdout + proc.stderr
    for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s', 'bbox_mAP_m', 'bbox_mAP_l'):
        assert f'coco/{key}:' in log
    for name in ('Plane', 'WildLife', 'meteorite'):  # the per-class AP table
        assert f'| {name}' in log
    with open(out, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == 3 and 'pred_instances' in results[0]
    written = list(tmp_path.glob(f'*/{show_dir}/*.png'))
    assert len(written) == 3


@pytest.mark.slow
def test_missing_annotation_file_is_named(repo_root, smoke_config, tmp_path):
    """Missing files give a clear error: a missing annotation file is named on stderr.

    The message is the dataset's (mmdet/pycocotools), not ours: the test guards the promise.
    """
    config = tmp_path / 'bad.py'
    missing = tmp_path / 'nowhere' / 'train.json'
    config.write_text(
        f"_base_ = '{smoke_config}'\n"
        f"train_dataloader = dict(dataset=dict(_delete_=True, type='CocoDataset', "
        f"ann_file='{missing}', data_prefix=dict(img=''), pipeline=[]))\n"
    )
    proc = run_tool(
        repo_root, 'tools/train.py', str(config), '--work-dir', str(tmp_path), check=False
    )
    assert proc.returncode != 0
    assert str(missing) in proc.stderr


@pytest.mark.slow
def test_missing_config_and_checkpoint_are_named(repo_root, tmp_path):
    """Missing files give a clear error: a config or checkpoint that is not there is named.

    The config's message is mmengine's; the checkpoint's is tools/test.py's own check.
    """
    proc = run_tool(repo_root, 'tools/train.py', 'configs/nope.py', check=False)
    assert proc.returncode != 0 and 'configs/nope.py' in proc.stderr
    proc = run_tool(repo_root, 'tools/test.py', BASELINE, str(tmp_path / 'none.pth'), check=False)
    assert proc.returncode != 0 and 'none.pth' in proc.stderr


@pytest.mark.slow
def test_unknown_model_key_is_named(repo_root, smoke_config, tmp_path):
    """A mistyped --cfg-options key is named (mmengine's build error); guards that promise."""
    proc = run_tool(
        repo_root,
        'tools/train.py',
        smoke_config,
        '--work-dir',
        str(tmp_path),
        '--cfg-options',
        'model.backbone.widen_fator=0.5',
        check=False,
    )
    assert proc.returncode != 0 and 'widen_fator' in proc.stderr


def _coco_dataset_cfg(root, pipeline):
    return dict(
        type='CocoDataset',
        data_root=str(root),
        ann_file='ann.json',
        data_prefix=dict(img='images/'),
        metainfo=dict(classes=('Plane',)),
        pipeline=pipeline,
        test_mode=True,
    )


def _write_coco(root, file_name):
    (root / 'images').mkdir(parents=True, exist_ok=True)
    coco = dict(
        images=[dict(id=1, file_name=file_name, width=32, height=32)],
        annotations=[dict(id=1, image_id=1, category_id=1, bbox=[1, 1, 5, 5], area=25, iscrowd=0)],
        categories=[dict(id=1, name='Plane')],
    )
    (root / 'ann.json').write_text(json.dumps(coco))


@pytest.mark.parametrize(
    'content, error', [(None, FileNotFoundError), (b'not an image', AssertionError)]
)
def test_missing_or_corrupt_image_is_named(tmp_path, content, error):
    """Missing files give a clear error: a missing or unreadable frame is named.

    The messages come from mmcv's LoadImageFromFile; the test guards the promise, in process.
    """
    from mmdet.registry import DATASETS

    _write_coco(tmp_path, 'frame_0001.jpg')
    if content is not None:
        (tmp_path / 'images' / 'frame_0001.jpg').write_bytes(content)
    dataset = DATASETS.build(_coco_dataset_cfg(tmp_path, [dict(type='LoadImageFromFile')]))
    with pytest.raises(error, match='frame_0001.jpg'):
        dataset[0]
