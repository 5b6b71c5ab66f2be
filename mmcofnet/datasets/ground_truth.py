"""Ground truth made valid at loading: boxes clipped, degenerate ones dropped, each change logged.

mmdet's ``CocoDataset`` keeps boxes that cross the image border as they are and drops
zero-size boxes and unknown category ids without a word: a small object at the border then
trains with a box the crop transforms cannot centre on, and a dataset whose boxes are all
degenerate trains to the end with ``loss_bbox = 0``. Every dataset of the package goes through
:class:`GroundTruthMixin`, which fixes what can be fixed, says so, and stops on a training set
with no box left.
"""

from __future__ import annotations

import json
import logging
import os.path as osp
from dataclasses import dataclass, field
from typing import Any

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log

MIN_BOX_SIZE = 1.0  # px: a box narrower or lower than this after clipping is dropped
MAX_EXAMPLES = 5  # changes named one by one in the log, per kind


@dataclass
class GroundTruthReport:
    """What loading changed in a dataset's ground truth, with the first examples of each kind."""

    source: str
    changes: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, example: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        examples = self.changes.setdefault(kind, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(example)

    def log(self) -> None:
        for kind, count in self.counts.items():
            more = f' (and {count - MAX_EXAMPLES} more)' if count > MAX_EXAMPLES else ''
            print_log(
                f'{self.source}: {count} {kind}: ' + '; '.join(self.changes[kind]) + more,
                logger='current',
                level=logging.WARNING,
            )


def clip_box(bbox: list[float], width: float, height: float) -> tuple[list[float], bool, bool]:
    """``(box clipped to the image, whether it changed, whether it keeps >= 1 px a side)``.

    Args:
        bbox: ``[x1, y1, x2, y2]`` in pixels.
        width, height: The image size.
    """
    x1, y1, x2, y2 = (float(v) for v in bbox)
    width, height = float(width), float(height)
    clipped = [min(max(x1, 0.0), width), min(max(y1, 0.0), height)]
    clipped += [min(max(x2, 0.0), width), min(max(y2, 0.0), height)]
    valid = clipped[2] - clipped[0] >= MIN_BOX_SIZE and clipped[3] - clipped[1] >= MIN_BOX_SIZE
    return clipped, clipped != [x1, y1, x2, y2], valid


def validate_ground_truth(data_list: list[dict], report: GroundTruthReport) -> None:
    """Clips every instance's box to its image and drops those under 1 px a side, in place.

    Args:
        data_list: mmdet data infos (``width``, ``height``, ``instances`` with ``bbox`` in
            ``[x1, y1, x2, y2]`` pixels).
        report: Collects the changes, named by image and box.
    """
    for info in data_list:
        image = f'image {osp.basename(str(info.get("img_path", "")))!r} (id {info.get("img_id")})'
        kept = []
        for index, instance in enumerate(info.get('instances', [])):
            box = [round(float(v), 2) for v in instance['bbox']]
            clipped, changed, valid = clip_box(box, info['width'], info['height'])
            where = f'{image} box {index} {box}'
            if not valid:
                report.add(f'boxes under {MIN_BOX_SIZE:g} px inside the image dropped', where)
                continue
            if changed:
                report.add('boxes clipped to the image', f'{where} -> {clipped}')
                instance['bbox'] = clipped
            kept.append(instance)
        info['instances'] = kept


def boxes_to_learn(info: dict) -> list[dict]:
    """The instances of a data info that are not ignored (COCO's ``iscrowd``)."""
    return [inst for inst in info.get('instances', []) if not inst.get('ignore_flag', 0)]


class GroundTruthMixin:
    """Validates a dataset's ground truth in ``filter_data`` (mmengine's ``full_init`` step).

    Boxes are clipped and degenerate ones dropped (:func:`validate_ground_truth`), with one
    warning per kind of change naming the source and the first images and boxes. A training set
    (``test_mode=False``) with no box left stops with a ``ValueError`` before training starts.
    ``filter_cfg=dict(filter_empty_gt=True)`` then drops the images with no box left (mmdet's
    CocoDataset counts an image's degenerate boxes as boxes); ``min_size`` is mmdet's.
    """

    def ground_truth_source(self) -> str:
        return str(getattr(self, 'ann_file', '') or type(self).__name__)

    def ground_truth_report(self) -> GroundTruthReport:
        return GroundTruthReport(self.ground_truth_source())

    def filter_data(self) -> list[dict]:
        report = self.ground_truth_report()
        validate_ground_truth(self.data_list, report)
        report.log()
        num_boxes = sum(len(boxes_to_learn(info)) for info in self.data_list)
        if not self.test_mode and num_boxes == 0:
            raise ValueError(
                f'{report.source}: no valid box in {len(self.data_list)} training images '
                f'(changes at loading: {report.counts or "none"}); check the annotations and '
                'the classes (metainfo)'
            )
        if self.test_mode or not self.filter_cfg:
            return self.data_list
        filter_empty_gt = self.filter_cfg.get('filter_empty_gt', False)
        min_size = self.filter_cfg.get('min_size', 0)
        return [
            info
            for info in self.data_list
            if (boxes_to_learn(info) or not filter_empty_gt)
            and min(info['width'], info['height']) >= min_size
        ]


@DATASETS.register_module()
class SkyCocoDataset(GroundTruthMixin, CocoDataset):
    """mmdet's ``CocoDataset`` with its ground truth validated (:class:`GroundTruthMixin`).

    Annotations whose ``category_id`` is not among the file's ``categories`` are dropped with a
    warning naming the image and the id (``CocoDataset`` drops them silently), as are boxes
    without a positive size; boxes of categories that are not classes of the dataset are left
    out, as ``CocoDataset`` leaves them out. An annotation file that is not valid JSON raises a
    ``ValueError`` naming it. Takes the arguments of ``CocoDataset``.
    """

    def full_init(self) -> None:
        try:
            super().full_init()
        except json.JSONDecodeError as error:
            raise ValueError(f'{self.ann_file}: not valid JSON ({error})') from error

    def ground_truth_report(self) -> GroundTruthReport:
        """The report of this loading (``parse_data_info`` adds to it, ``filter_data`` logs it)."""
        if getattr(self, '_report', None) is None:
            self._report = super().ground_truth_report()
        return self._report

    def parse_data_info(self, raw_data_info: dict) -> dict:
        img_info = raw_data_info['raw_img_info']
        image = f'image {img_info["file_name"]!r} (id {img_info["img_id"]})'
        info = super().parse_data_info(dict(raw_img_info=img_info, raw_ann_info=[]))
        instances: list[dict[str, Any]] = []
        for ann in raw_data_info['raw_ann_info']:
            if ann.get('ignore', False):
                continue
            x, y, w, h = ann['bbox']
            if ann['category_id'] not in self.coco.cats:  # the file's categories, by id
                self.ground_truth_report().add(
                    'boxes with a category_id not in categories dropped',
                    f'{image} annotation {ann.get("id")} category_id {ann["category_id"]}',
                )
                continue
            if ann['category_id'] not in self.cat2label:
                continue  # a category that is not a class: left out, as CocoDataset does
            instance = dict(
                bbox=[x, y, x + w, y + h],
                bbox_label=self.cat2label[ann['category_id']],
                ignore_flag=int(bool(ann.get('iscrowd', False))),
            )
            if ann.get('segmentation'):
                instance['mask'] = ann['segmentation']
            instances.append(instance)
        info['instances'] = instances
        return info

    def filter_data(self) -> list[dict]:
        data_list = super().filter_data()
        self._report = None
        return data_list
