"""SyntheticSkyDataset through mmdet's pipeline and metric."""

import numpy as np
import pytest
import torch
from mmdet.evaluation import CocoMetric
from mmdet.registry import DATASETS
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

TEST_PIPELINE = [
    dict(type='LoadSyntheticSkyImage'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'instances'),
    ),
]


def build(**kwargs):
    cfg = dict(
        type='SyntheticSkyDataset',
        num_images=6,
        seed=2,
        img_size=(320, 256),
        pipeline=TEST_PIPELINE,
        test_mode=True,
    )
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_dataset_yields_images_and_boxes():
    dataset = build()
    assert len(dataset) == 6
    assert dataset.metainfo['classes'] == ('Plane', 'WildLife', 'meteorite')
    item = dataset[0]
    assert item['inputs'].shape == (3, 256, 320) and item['inputs'].dtype == torch.uint8
    sample = item['data_samples']
    assert sample.gt_instances.bboxes.shape[1] == 4
    assert len(sample.gt_instances.labels) == len(sample.instances)
    assert sample.gt_instances.labels.max() < 3


def test_dataset_is_deterministic_and_seeds_differ():
    a, b, c = build()[3], build()[3], build(seed=3)[3]
    assert torch.equal(a['inputs'], b['inputs'])
    assert not torch.equal(a['inputs'], c['inputs'])


def test_filter_empty_gt_in_training():
    kwargs = dict(scene_cfg=dict(num_objects=(0, 1)), num_images=40)
    assert len(build(**kwargs)) == 40
    train = build(**kwargs, test_mode=False, filter_cfg=dict(filter_empty_gt=True))
    assert 0 < len(train) < 40
    assert all(len(train.get_data_info(i)['instances']) > 0 for i in range(len(train)))


def test_coco_metric_scores_ground_truth_as_perfect():
    """Predicting the ground truth gives mAP 1.0; shifted boxes give a lower score."""
    dataset = build(num_images=4, scene_cfg=dict(num_objects=(2, 4), class_probs=(1, 1, 1)))
    scores = {}
    for shift in (0.0, 3.0):
        metric = CocoMetric(ann_file=None, metric='bbox')
        metric.dataset_meta = dataset.metainfo
        for i in range(len(dataset)):
            sample = dataset[i]['data_samples']
            pred = InstanceData(
                bboxes=sample.gt_instances.bboxes.tensor + shift,
                scores=torch.ones(len(sample.gt_instances)),
                labels=sample.gt_instances.labels,
            )
            out = DetDataSample(metainfo=sample.metainfo)
            out.pred_instances = pred
            metric.process({}, [out.to_dict()])
        scores[shift] = metric.evaluate(len(dataset))['coco/bbox_mAP']
    assert scores[0.0] == pytest.approx(1.0)
    assert scores[3.0] < 0.9


@pytest.mark.parametrize(
    'kwargs, match',
    [
        (dict(num_images=0), 'num_images=0'),
        (dict(img_size=(10, 10)), 'below 32x32'),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)


def test_render_transform_rejects_samples_without_scene():
    from mmcofnet.datasets import LoadSyntheticSkyImage

    with pytest.raises(KeyError, match='LoadImageFromFile'):
        LoadSyntheticSkyImage()(dict(img_path='x.png'))


def test_loaded_float_image():
    from mmcofnet.datasets import LoadSyntheticSkyImage

    info = build().get_data_info(0)
    out = LoadSyntheticSkyImage(to_float32=True)(dict(scene=info['scene']))
    assert out['img'].dtype == np.float32 and out['ori_shape'] == (256, 320)


def test_multi_scale_small_object_training_pipeline():
    """The README's multi-scale option: a random rescale before the native-resolution crop."""
    pipeline = [
        dict(type='LoadSyntheticSkyImage'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='RandomResize', scale=(320, 256), ratio_range=(0.75, 1.25), keep_ratio=True),
        dict(type='SmallObjectCrop', crop_size=(128, 128), object_prob=1.0),
        dict(type='PackDetInputs'),
    ]
    dataset = build(pipeline=pipeline, test_mode=False)
    for i in range(4):
        item = dataset[i]
        assert item['inputs'].shape == (3, 128, 128)
        boxes = item['data_samples'].gt_instances.bboxes.tensor
        assert len(boxes) > 0 and boxes.min() >= 0 and boxes.max() <= 128
