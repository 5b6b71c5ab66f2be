"""SkyWatchDataset: Roboflow's COCO export and our layout, category matching, the base config."""

import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from conftest import LOAD_PIPELINE, evaluate_ground_truth
from mmdet.registry import DATASETS
from mmengine.config import Config

SIZES = {'a.png': (120, 80), 'b.png': (90, 60), 'c.png': (120, 80)}  # (width, height)

# Roboflow: category 0 is the project (supercategory 'none'), the classes name it as their
# supercategory; names may be lower case and ids in any order; ids start at 0.
ROBOFLOW_CATEGORIES = [
    dict(id=0, name='skywatch-night', supercategory='none'),
    dict(id=1, name='meteorite', supercategory='skywatch-night'),
    dict(id=2, name='plane', supercategory='skywatch-night'),
    dict(id=3, name='Wildlife', supercategory='skywatch-night'),
]
ROBOFLOW_ANNOTATIONS = [  # (image id, category id, [x, y, w, h])
    (0, 2, [10, 20, 30, 15]),
    (0, 1, [50.5, 5.25, 12, 40]),
    (1, 3, [0, 0, 8, 6]),
    (1, 0, [20, 20, 10, 10]),  # the project category: not a class, skipped
    (2, 0, [1, 1, 5, 5]),  # c.png has only that one: no class box
]
# Per image: boxes as (x1, y1, x2, y2) and labels in the order Plane, WildLife, meteorite.
EXPECTED = {
    'a.png': ([[10, 20, 40, 35], [50.5, 5.25, 62.5, 45.25]], [0, 2]),
    'b.png': ([[0, 0, 8, 6]], [1]),
    'c.png': (np.zeros((0, 4)), []),
}


def write_images(image_dir, names=SIZES):
    for name in names:
        width, height = SIZES[name]
        img = np.full((height, width, 3), 40, np.uint8)
        assert cv2.imwrite(osp.join(str(image_dir), name), img)


def coco_dict(file_prefix='', categories=ROBOFLOW_CATEGORIES, first_ann_id=0):
    names = list(SIZES)
    return dict(
        images=[
            dict(id=i, file_name=file_prefix + name, width=SIZES[name][0], height=SIZES[name][1])
            for i, name in enumerate(names)
        ],
        annotations=[
            dict(
                id=first_ann_id + k,
                image_id=img,
                category_id=cat,
                bbox=bbox,
                area=bbox[2] * bbox[3],
                segmentation=[],
                iscrowd=0,
            )
            for k, (img, cat, bbox) in enumerate(ROBOFLOW_ANNOTATIONS)
        ],
        categories=categories,
    )


@pytest.fixture
def roboflow_root(tmp_path):
    """Roboflow's COCO export: valid/_annotations.coco.json beside the images."""
    (tmp_path / 'valid').mkdir()
    write_images(tmp_path / 'valid')
    (tmp_path / 'valid' / '_annotations.coco.json').write_text(json.dumps(coco_dict()))
    return tmp_path


@pytest.fixture
def our_root(tmp_path):
    """Our layout: annotations/valid.json, images/valid/*.png, category ids 1-3."""
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'images' / 'valid').mkdir(parents=True)
    write_images(tmp_path / 'images' / 'valid')
    categories = [
        dict(id=1, name='Plane'),
        dict(id=2, name='WildLife'),
        dict(id=3, name='meteorite'),
        dict(id=0, name='skywatch', supercategory='none'),
    ]
    coco = coco_dict('valid/', categories, first_ann_id=1)
    # Our ids: Plane 1, WildLife 2, meteorite 3 (Roboflow's file has meteorite 1, plane 2).
    our_id = {0: 0, 1: 3, 2: 1, 3: 2}
    for ann in coco['annotations']:
        ann['category_id'] = our_id[ann['category_id']]
    (tmp_path / 'annotations' / 'valid.json').write_text(json.dumps(coco))
    return tmp_path


def check_samples(dataset):
    assert dataset.metainfo['classes'] == ('Plane', 'WildLife', 'meteorite')
    assert len(dataset) == 3
    for i in range(3):
        sample = dataset[i]
        name = osp.basename(sample['img_path'])
        boxes, labels = EXPECTED[name]
        assert sample['img'].shape == (SIZES[name][1], SIZES[name][0], 3)
        np.testing.assert_allclose(sample['gt_bboxes'].numpy(), np.reshape(boxes, (-1, 4)))
        np.testing.assert_array_equal(sample['gt_bboxes_labels'], labels)


def test_roboflow_export_loads_with_images_beside_the_annotations(roboflow_root):
    dataset = DATASETS.build(
        dict(
            type='SkyWatchDataset',
            data_root=str(roboflow_root),
            ann_file='valid/_annotations.coco.json',
            test_mode=True,
            pipeline=LOAD_PIPELINE,
        )
    )
    assert dataset[0]['img_path'] == osp.join(str(roboflow_root), 'valid', 'a.png')
    check_samples(dataset)


def test_our_layout_loads(our_root):
    dataset = DATASETS.build(
        dict(
            type='SkyWatchDataset',
            data_root=str(our_root),
            ann_file='annotations/valid.json',
            data_prefix=dict(img='images/'),
            test_mode=True,
            pipeline=LOAD_PIPELINE,
        )
    )
    assert dataset[0]['img_path'] == osp.join(str(our_root), 'images', 'valid', 'a.png')
    check_samples(dataset)


def test_training_drops_images_without_class_boxes(roboflow_root):
    dataset = DATASETS.build(
        dict(
            type='SkyWatchDataset',
            data_root=str(roboflow_root),
            ann_file='valid/_annotations.coco.json',
            filter_cfg=dict(filter_empty_gt=True),
            pipeline=LOAD_PIPELINE,
        )
    )
    kept = [osp.basename(dataset.get_data_info(i)['img_path']) for i in range(len(dataset))]
    assert kept == ['a.png', 'b.png']


def test_unknown_category_names_the_file_and_category(tmp_path):
    categories = ROBOFLOW_CATEGORIES + [dict(id=4, name='Satellite', supercategory='x')]
    ann_file = tmp_path / 'bad.json'
    ann_file.write_text(json.dumps(coco_dict(categories=categories)))
    with pytest.raises(ValueError, match=r"bad\.json: categories \['Satellite'\]"):
        DATASETS.build(dict(type='SkyWatchDataset', ann_file=str(ann_file), test_mode=True))


def test_base_config_evaluates_another_split_from_the_command_line(repo_root, roboflow_root):
    """The --cfg-options of the config's comment, on a Roboflow split (annotation id 0)."""
    cfg = Config.fromfile(osp.join(repo_root, 'configs/_base_/datasets/skywatch.py'))
    cfg.merge_from_dict(
        {
            'test_dataloader.dataset.data_root': f'{roboflow_root}/',
            'test_dataloader.dataset.ann_file': 'valid/_annotations.coco.json',
            'test_dataloader.dataset.data_prefix.img': 'valid/',
        }
    )
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    samples = [dataset[i] for i in range(3)]
    assert [s['data_samples'].ori_shape for s in samples] == [(80, 120), (60, 90), (80, 120)]
    # Full frames, padded to the stride by repeating the border.
    assert [s['inputs'].shape[1:] for s in samples] == [(96, 128), (64, 96), (96, 128)]
    image = samples[0]['inputs']
    assert torch.equal(image[:, 80:, :120], image[:, 79:80, :120].expand(-1, 16, -1))
    results = evaluate_ground_truth(dataset, cfg.test_evaluator)
    assert results['coco/bbox_mAP'] == pytest.approx(1.0)
