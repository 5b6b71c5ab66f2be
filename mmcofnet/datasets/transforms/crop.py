"""Crops for small-object training at native resolution."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class SmallObjectCrop(BaseTransform):
    """Random fixed-size crop at native resolution that usually contains an object.

    Small objects vanish when a large frame is resized to a network's input size, so training
    crops the frame instead. A uniform random crop of a sparse sky frame is mostly empty; with
    probability ``object_prob`` this crop is placed so that a randomly chosen ground-truth box
    lies inside it (at a random position), otherwise it is uniform. Boxes that keep less than
    ``min_visible`` of their area are dropped. ``class_weights`` makes the chosen box a rare
    class's more often: a box of class ``c`` is chosen with probability proportional to
    ``class_weights[c]`` (uniformly over the boxes by default).

    Required keys: ``img``, ``gt_bboxes``, ``gt_bboxes_labels``, ``gt_ignore_flags``.
    Modified keys: ``img``, ``img_shape``, ``gt_bboxes``, ``gt_bboxes_labels``,
    ``gt_ignore_flags``.

    Args:
        crop_size (tuple[int, int]): Crop size as (width, height); clipped to the image size.
        object_prob (float): Probability of a crop placed around a ground-truth box.
        min_visible (float): Smallest fraction of a box's area that must stay inside the crop.
        class_weights (Sequence[float], optional): Per class index, the weight of its boxes when
            the crop's box is chosen.
    """

    def __init__(
        self,
        crop_size: tuple[int, int],
        object_prob: float = 0.7,
        min_visible: float = 0.5,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        if len(crop_size) != 2 or min(crop_size) < 1:
            raise ValueError(f'SmallObjectCrop: crop_size={crop_size} must be (width, height) > 0')
        if not 0 <= object_prob <= 1 or not 0 < min_visible <= 1:
            raise ValueError(
                f'SmallObjectCrop: object_prob={object_prob} must be in [0, 1] and '
                f'min_visible={min_visible} in (0, 1]'
            )
        if class_weights is not None and (
            len(class_weights) == 0 or min(class_weights) < 0 or max(class_weights) <= 0
        ):
            raise ValueError(
                f'SmallObjectCrop: class_weights={class_weights} must be '
                'non-negative with one positive'
            )
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.object_prob = object_prob
        self.min_visible = min_visible
        self.class_weights = None if class_weights is None else np.asarray(class_weights, float)

    def _choose_box(self, labels: np.ndarray) -> int | None:
        """Index of the box to crop around (``class_weights`` over ``labels`` [K]), or None."""
        if self.class_weights is None:
            return np.random.randint(len(labels))
        if labels.max() >= len(self.class_weights):
            raise ValueError(
                f'SmallObjectCrop: label {labels.max()} has no entry in '
                f'class_weights={self.class_weights.tolist()}'
            )
        weights = self.class_weights[labels]
        if weights.sum() == 0:  # only classes of weight 0 in this image
            return None
        return np.random.choice(len(labels), p=weights / weights.sum())

    def _crop_origin(
        self,
        boxes: np.ndarray,
        labels: np.ndarray,
        img_w: int,
        img_h: int,
        crop_w: int,
        crop_h: int,
    ) -> tuple[int, int]:
        """Top-left corner of the crop; boxes is [K, 4] (x1, y1, x2, y2), labels [K]."""
        index = None
        if len(boxes) and np.random.rand() < self.object_prob:
            index = self._choose_box(labels)
        if index is not None:
            x1, y1, x2, y2 = boxes[index]
            # Origins for which the box lies inside the crop (when it fits), within the image.
            lo_x, hi_x = max(0, int(np.ceil(x2)) - crop_w), min(int(x1), img_w - crop_w)
            lo_y, hi_y = max(0, int(np.ceil(y2)) - crop_h), min(int(y1), img_h - crop_h)
            if lo_x <= hi_x and lo_y <= hi_y:
                return np.random.randint(lo_x, hi_x + 1), np.random.randint(lo_y, hi_y + 1)
        return np.random.randint(img_w - crop_w + 1), np.random.randint(img_h - crop_h + 1)

    def transform(self, results: dict) -> dict:
        img = results['img']
        img_h, img_w = img.shape[:2]
        crop_w, crop_h = min(self.crop_size[0], img_w), min(self.crop_size[1], img_h)
        gt_bboxes = results.get('gt_bboxes')
        boxes = gt_bboxes.numpy() if gt_bboxes is not None else np.zeros((0, 4), np.float32)
        labels = np.asarray(results.get('gt_bboxes_labels', np.zeros(len(boxes), np.int64)))
        x0, y0 = self._crop_origin(boxes, labels, img_w, img_h, crop_w, crop_h)

        results['img'] = img[y0 : y0 + crop_h, x0 : x0 + crop_w]
        results['img_shape'] = (crop_h, crop_w)
        if gt_bboxes is None:
            return results
        areas = gt_bboxes.areas.numpy()
        gt_bboxes = gt_bboxes.clone()
        gt_bboxes.translate_([-x0, -y0])
        gt_bboxes.clip_((crop_h, crop_w))
        visible = gt_bboxes.areas.numpy()
        keep = (visible >= self.min_visible * np.maximum(areas, 1e-6)) & (visible > 0)
        results['gt_bboxes'] = gt_bboxes[keep]
        for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
            if key in results:
                results[key] = results[key][keep]
        return results

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(crop_size={self.crop_size}, '
            f'object_prob={self.object_prob}, min_visible={self.min_visible}, '
            f'class_weights={self.class_weights})'
        )
