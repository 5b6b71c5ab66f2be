"""SmallObjectCrop."""

import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes

from mmcofnet.datasets import SmallObjectCrop


def results_with(boxes, size=(200, 300)):
    h, w = size
    boxes = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    return dict(
        img=np.arange(h * w * 3, dtype=np.int64).reshape(h, w, 3),
        img_shape=(h, w),
        gt_bboxes=HorizontalBoxes(boxes),
        gt_bboxes_labels=np.arange(len(boxes)),
        gt_ignore_flags=np.zeros(len(boxes), bool),
    )


def test_crop_has_the_requested_size_and_image_content():
    np.random.seed(0)
    src = results_with([[10, 10, 20, 20]])
    img = src['img'].copy()
    out = SmallObjectCrop((64, 48))(src)
    assert out['img'].shape == (48, 64, 3) and out['img_shape'] == (48, 64)
    # The crop is a window of the image: find its origin from its first pixel.
    y0, x0 = np.argwhere(img[..., 0] == out['img'][0, 0, 0])[0]
    np.testing.assert_array_equal(out['img'], img[y0 : y0 + 48, x0 : x0 + 64])


def test_object_crop_contains_the_object_with_shifted_box():
    np.random.seed(1)
    for _ in range(20):
        out = SmallObjectCrop((50, 50), object_prob=1.0)(results_with([[200, 120, 210, 126]]))
        assert len(out['gt_bboxes']) == 1
        x1, y1, x2, y2 = out['gt_bboxes'].numpy()[0]
        assert 0 <= x1 and x2 <= 50 and 0 <= y1 and y2 <= 50
        assert (x2 - x1, y2 - y1) == (10, 6)  # whole, not clipped


def test_mostly_hidden_boxes_are_dropped_with_their_labels():
    # A 60x60 crop at the origin (the image is as large as the crop in x; y is forced by size).
    src = results_with([[0, 0, 10, 10], [55, 0, 75, 10], [50, 0, 62, 10]], size=(60, 60))
    out = SmallObjectCrop((60, 60), min_visible=0.5)(src)
    # Box 1 keeps 5/20 of its width (dropped); box 2 keeps 10/12 (kept, clipped).
    np.testing.assert_array_equal(out['gt_bboxes_labels'], [0, 2])
    np.testing.assert_allclose(out['gt_bboxes'].numpy()[1], [50, 0, 60, 10])
    assert len(out['gt_ignore_flags']) == 2


def test_crop_larger_than_image_is_clipped():
    out = SmallObjectCrop((500, 500))(results_with([[1, 1, 5, 5]]))
    assert out['img'].shape[:2] == (200, 300)


def test_empty_ground_truth():
    out = SmallObjectCrop((32, 32), object_prob=1.0)(results_with(np.zeros((0, 4))))
    assert out['img'].shape[:2] == (32, 32) and len(out['gt_bboxes']) == 0


def test_class_weights_choose_the_box_to_crop_around():
    # Two far-apart boxes of classes 0 and 1: a 40x40 crop holds at most one of them.
    boxes = [[10, 10, 20, 20], [250, 150, 260, 160]]
    np.random.seed(2)
    seen = [
        SmallObjectCrop((40, 40), object_prob=1.0, class_weights=(0, 1))(results_with(boxes))[
            'gt_bboxes_labels'
        ].tolist()
        for _ in range(20)
    ]
    assert seen == [[1]] * 20
    weighted = [
        SmallObjectCrop((40, 40), object_prob=1.0, class_weights=(1, 3))(results_with(boxes))[
            'gt_bboxes_labels'
        ].tolist()
        for _ in range(400)
    ]
    assert 0.65 < weighted.count([1]) / 400 < 0.85  # 3 / 4
    assert weighted.count([0]) + weighted.count([1]) == 400


def test_class_weights_of_zero_give_a_uniform_crop():
    np.random.seed(3)
    out = SmallObjectCrop((40, 40), object_prob=1.0, class_weights=(0, 1))(
        results_with([[10, 10, 20, 20]])
    )  # only a class-0 box
    assert out['img'].shape[:2] == (40, 40)


def test_class_weights_must_cover_every_label():
    with pytest.raises(ValueError, match='label 1 has no entry in class_weights'):
        SmallObjectCrop((40, 40), object_prob=1.0, class_weights=(1,))(
            results_with([[10, 10, 20, 20], [50, 50, 60, 60]])
        )


@pytest.mark.parametrize(
    'kwargs, match',
    [
        (dict(crop_size=(10, 10), class_weights=(0, 0)), 'class_weights'),
        (dict(crop_size=(10, 10), class_weights=(1, -1)), 'class_weights'),
        (dict(crop_size=(0, 10)), 'crop_size'),
        (dict(crop_size=(10, 10), object_prob=1.5), 'object_prob'),
        (dict(crop_size=(10, 10), min_visible=0), 'min_visible'),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SmallObjectCrop(**kwargs)
