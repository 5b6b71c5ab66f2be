"""tools/dataset_converters/render_synthetic_sky.py: COCO files equal the on-the-fly dataset."""

import numpy as np
import pytest
from conftest import LOAD_PIPELINE, run_tool
from mmdet.registry import DATASETS

SYNTH_PIPELINE = [dict(type='LoadSyntheticSkyImage'), dict(type='LoadAnnotations', with_bbox=True)]


@pytest.mark.slow
def test_rendered_coco_dataset_matches_synthetic_dataset(repo_root, tmp_path):
    proc = run_tool(
        repo_root,
        'tools/dataset_converters/render_synthetic_sky.py',
        str(tmp_path),
        '--split',
        'val',
        '--num-images',
        '3',
        '--seed',
        '5',
        '--img-size',
        '200',
        '150',
    )
    assert 'wrote 3 images' in proc.stdout

    on_disk = DATASETS.build(
        dict(
            type='CocoDataset',
            data_root=str(tmp_path),
            ann_file='annotations/val.json',
            data_prefix=dict(img='images/'),
            test_mode=True,
            pipeline=LOAD_PIPELINE,
            metainfo=dict(classes=('Plane', 'WildLife', 'meteorite')),
        )
    )
    rendered = DATASETS.build(
        dict(
            type='SyntheticSkyDataset',
            num_images=3,
            seed=5,
            img_size=(200, 150),
            test_mode=True,
            pipeline=SYNTH_PIPELINE,
        )
    )
    assert len(on_disk) == len(rendered) == 3
    for i in range(3):
        a, b = on_disk[i], rendered[i]
        np.testing.assert_array_equal(a['img'], b['img'])  # png keeps the exact pixels
        np.testing.assert_allclose(a['gt_bboxes'].numpy(), b['gt_bboxes'].numpy())
        np.testing.assert_array_equal(a['gt_bboxes_labels'], b['gt_bboxes_labels'])
