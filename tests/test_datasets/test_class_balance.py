"""Rare-class oversampling (mmdet's ClassBalancedDataset, as configs/_base_/datasets/skywatch.py
uses it) on sky data with a rare class."""

import numpy as np
from mmdet.registry import DATASETS

from mmcofnet.datasets.sky_renderer import METEORITE


def frames_with_meteorite(dataset):
    return sum(METEORITE in dataset.get_cat_ids(i) for i in range(len(dataset)))


def test_frames_of_the_rare_class_are_repeated():
    inner = dict(
        type='SyntheticSkyDataset',
        num_images=200,
        seed=0,
        img_size=(256, 192),
        scene_cfg=dict(num_objects=(1, 2), class_probs=(0.6, 0.39, 0.01)),
        pipeline=[],
        test_mode=True,
    )
    plain = DATASETS.build(inner)
    balanced = DATASETS.build(dict(type='ClassBalancedDataset', oversample_thr=0.1, dataset=inner))
    rare = frames_with_meteorite(plain)
    assert 0 < rare < 10  # about 1% of objects
    freq = rare / len(plain)
    expected_repeat = np.sqrt(0.1 / freq)
    assert expected_repeat > 2
    # Every frame with a meteorite appears ceil/floor(repeat) times; common frames once.
    assert frames_with_meteorite(balanced) >= rare * int(expected_repeat)
    assert len(balanced) - frames_with_meteorite(balanced) == len(plain) - rare
