"""The procedural sky renderer: determinism, box accuracy, class balance, clips."""

import dataclasses

import cv2
import numpy as np
import pytest

from mmcofnet.datasets import SKY_CLASSES, SkySceneSampler, render_frame, scene_boxes
from mmcofnet.datasets.sky_renderer import METEORITE


@pytest.fixture(scope='module')
def sampler():
    return SkySceneSampler(480, 320, num_objects=(3, 6), class_probs=(1, 1, 1))


def test_same_seed_and_index_give_the_same_image(sampler):
    a, b = render_frame(sampler.sample(3, 7)), render_frame(sampler.sample(3, 7))
    assert a.shape == (320, 480, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, render_frame(sampler.sample(3, 8)))
    assert not np.array_equal(a, render_frame(sampler.sample(4, 7)))


@pytest.mark.parametrize('index', range(6))
def test_boxes_are_the_tight_bounds_of_the_rendered_objects(sampler, index):
    scene = sampler.sample(0, index)
    boxes, labels, ids = scene_boxes(scene)
    assert len(boxes) > 0
    empty = render_frame(dataclasses.replace(scene, objects=())).astype(np.int32)
    for box, obj_id in zip(boxes, ids):
        alone = dataclasses.replace(scene, objects=(scene.objects[obj_id],))
        diff = np.abs(render_frame(alone).astype(np.int32) - empty).max(axis=2)
        x1, y1, x2, y2 = box
        # The visible body of the object (above 20% of its peak change) lies inside the box ...
        ys, xs = np.nonzero(diff > 0.2 * diff.max())
        assert xs.min() >= x1 - 1 and xs.max() < x2 + 1, (box, xs.min(), xs.max())
        assert ys.min() >= y1 - 1 and ys.max() < y2 + 1, (box, ys.min(), ys.max())
        # ... and the box is no larger than the region the object changed at all.
        ys, xs = np.nonzero(diff > 0)
        assert x1 >= xs.min() and x2 <= xs.max() + 1 and y1 >= ys.min() and y2 <= ys.max() + 1


def test_objects_have_the_configured_sizes():
    sampler = SkySceneSampler(1080, 720, num_objects=(8, 8), size_range=(4, 60))
    sizes = []
    for index in range(20):
        boxes, _, _ = scene_boxes(sampler.sample(0, index))
        sizes.extend(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]))
    sizes = np.array(sizes)
    assert sizes.min() >= 3 and sizes.max() <= 70
    assert np.median(sizes) < 30  # a detector of small objects: most are tiny


def test_meteorites_are_rare_by_default():
    sampler = SkySceneSampler(640, 480, num_objects=(5, 5))
    labels = np.concatenate([scene_boxes(sampler.sample(0, i))[1] for i in range(100)])
    freq = np.bincount(labels, minlength=len(SKY_CLASSES)) / len(labels)
    assert 0.03 < freq[METEORITE] < 0.2
    assert freq[METEORITE] < freq[0] and freq[METEORITE] < freq[1]


def test_clip_objects_move_with_their_velocity():
    sampler = SkySceneSampler(
        640, 480, num_objects=(4, 4), max_speed=2.0, max_pan=1.5, num_frames=8
    )
    scene = sampler.sample(0, 1)
    boxes0, _, ids0 = scene_boxes(scene, t=0)
    boxes5, _, ids5 = scene_boxes(scene, t=5)
    for obj_id in set(ids0.tolist()) & set(ids5.tolist()):
        obj = scene.objects[obj_id]
        if obj.label == 0:
            continue  # blinking strobes change the footprint between frames
        c0 = boxes0[ids0 == obj_id][0].reshape(2, 2).mean(0)
        c5 = boxes5[ids5 == obj_id][0].reshape(2, 2).mean(0)
        np.testing.assert_allclose(c5 - c0, [5 * obj.vx, 5 * obj.vy], atol=1.5)
    # The camera pans: the background (stars, clouds) moves by -pan per frame.
    sky = dataclasses.replace(scene, objects=())
    gray = [
        cv2.cvtColor(render_frame(sky, t), cv2.COLOR_BGR2GRAY).astype(np.float32) for t in (0, 5)
    ]
    (dx, dy), _ = cv2.phaseCorrelate(gray[0], gray[1])
    np.testing.assert_allclose([dx, dy], [-5 * scene.pan[0], -5 * scene.pan[1]], atol=0.5)


@pytest.mark.parametrize(
    'kwargs, match',
    [
        (dict(width=16, height=16), 'below 32x32'),
        (dict(class_probs=(1, 0)), 'class_probs'),
        (dict(size_range=(10, 5)), 'size_range'),
        (dict(num_objects=(3, 1)), 'num_objects'),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SkySceneSampler(**kwargs)
