"""SkyWatchDataset: the real night-sky target data, in COCO format."""

from __future__ import annotations

import copy
import os.path as osp
from typing import Any

from mmdet.registry import DATASETS
from mmengine.fileio import get_local_path
from mmengine.logging import print_log

from .ground_truth import SkyCocoDataset
from .sky_renderer import SKY_CLASSES
from .synthetic_sky import SKY_PALETTE


def is_roboflow_group(category: dict, categories: list[dict]) -> bool:
    """Whether ``category`` is the dataset-level category that Roboflow adds to its exports.

    Roboflow's COCO export lists the project itself as category 0 with supercategory
    ``'none'``, and names it as the supercategory of every real class. It is not a class.
    """
    named_as_parent = any(
        other.get('supercategory') == category['name']
        for other in categories
        if other is not category
    )
    return named_as_parent or (category['id'] == 0 and category.get('supercategory') == 'none')


def match_categories(
    categories: list[dict], classes: tuple[str, ...], ann_file: str
) -> dict[int, int]:
    """Maps the category ids of a COCO file to class indices, by name and ignoring case.

    Args:
        categories (list[dict]): The ``categories`` of the COCO file.
        classes (tuple[str, ...]): The dataset's class names; a label is an index into them.
        ann_file (str): The annotation file, named in errors.

    Returns:
        dict[int, int]: ``{category_id: label}`` for every category that is one of ``classes``;
        Roboflow's dataset-level category is left out.

    Raises:
        ValueError: If a category is neither one of ``classes`` nor Roboflow's group category.
    """
    label_of = {name.lower(): label for label, name in enumerate(classes)}
    cat2label, unknown = {}, []
    for category in categories:
        label = label_of.get(str(category['name']).lower())
        if label is not None:
            cat2label[category['id']] = label
        elif not is_roboflow_group(category, categories):
            unknown.append(category['name'])
    if unknown:
        raise ValueError(
            f'{ann_file}: categories {unknown} are none of the classes {tuple(classes)} '
            '(names are matched ignoring case); rename them in the file or set '
            'metainfo=dict(classes=...)'
        )
    return cat2label


@DATASETS.register_module()
class SkyWatchDataset(SkyCocoDataset):
    """SkyWatch night-sky frames (``Plane``, ``WildLife``, ``meteorite``) in COCO format.

    Reads both layouts of the data:

    - Roboflow's COCO export: ``{train,valid,test}/_annotations.coco.json`` beside the images,
      e.g. ``ann_file='valid/_annotations.coco.json'`` with no ``data_prefix`` (images are looked
      up beside the annotation file by default).
    - Ours (also what ``tools/dataset_converters/yolo2coco.py`` writes):
      ``annotations/{train,valid,test}.json`` and ``images/``, with
      ``data_prefix=dict(img='images/')``.

    Boxes are validated at loading (:class:`SkyCocoDataset`). Unlike mmdet's ``CocoDataset``,
    categories are matched to the classes by name, ignoring case (exports spell ``plane`` or
    ``Plane``), labels follow the order of the classes whatever the category ids are, and
    Roboflow's dataset-level category (id 0, the supercategory of the others) is skipped. Any
    other category that is not a class is an error. Evaluate it with ``CocoMetric(ann_file=None)``
    and ``'instances'`` in ``PackDetInputs``' meta keys, as ``configs/_base_/datasets/skywatch.py``
    does: given the file, CocoMetric would match names exactly, and pycocotools never counts a
    match to an annotation with id 0, which Roboflow's exports have.

    Args:
        ann_file (str): Annotation file, relative to ``data_root`` unless absolute.
        data_prefix (dict, optional): Prefixes of the data; ``img`` defaults to the annotation
            file's folder.
        **kwargs: Other arguments of :class:`mmdet.datasets.CocoDataset`.
    """

    METAINFO = dict(classes=SKY_CLASSES, palette=SKY_PALETTE)

    def __init__(self, ann_file: str = '', data_prefix: dict | None = None, **kwargs: Any) -> None:
        data_prefix = dict(data_prefix or {})
        self.images_beside_ann_file = 'img' not in data_prefix
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def _join_prefix(self) -> None:
        """Joins ``data_root`` to the paths; images default to the annotation file's folder."""
        super()._join_prefix()
        if self.images_beside_ann_file:
            self.data_prefix['img'] = osp.dirname(self.ann_file)

    def load_data_list(self) -> list[dict]:
        """Loads the images and their boxes of ``self.ann_file``.

        Returns:
            list[dict]: One data info per image, as :class:`CocoDataset` makes them.
        """
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local_path:
            self.coco = self.COCOAPI(local_path)
        self.cat2label = match_categories(
            self.coco.dataset.get('categories', []), self.metainfo['classes'], self.ann_file
        )
        # Class order, so that code that indexes cat_ids by label (filter_data) stays right.
        self.cat_ids = sorted(self.cat2label, key=lambda cat_id: self.cat2label[cat_id])
        self.cat_img_map = copy.deepcopy(self.coco.cat_img_map)

        data_list = []
        for img_id in self.coco.get_img_ids():
            raw_img_info = dict(self.coco.load_imgs([img_id])[0], img_id=img_id)
            raw_ann_info = self.coco.load_anns(self.coco.get_ann_ids(img_ids=[img_id]))
            data_list.append(
                self.parse_data_info(dict(raw_img_info=raw_img_info, raw_ann_info=raw_ann_info))
            )
        self._check_annotation_ids_unique()
        self._report_skipped_annotations()
        del self.coco
        return data_list

    def _check_annotation_ids_unique(self) -> None:
        ann_ids = [ann['id'] for ann in self.coco.dataset.get('annotations', [])]
        if len(set(ann_ids)) != len(ann_ids):
            raise ValueError(f'{self.ann_file}: annotation ids are not unique')

    def _report_skipped_annotations(self) -> None:
        """Boxes of non-class categories are dropped silently by CocoDataset: say how many."""
        skipped = sum(
            ann['category_id'] not in self.cat2label
            for ann in self.coco.dataset.get('annotations', [])
        )
        if skipped:
            print_log(
                f'{self.ann_file}: skipped {skipped} boxes of categories that are not '
                f'classes (e.g. the Roboflow group category)',
                logger='current',
            )
