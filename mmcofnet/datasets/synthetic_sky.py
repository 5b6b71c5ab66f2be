"""SyntheticSkyDataset: procedurally rendered night-sky images, the embedded default data."""

from __future__ import annotations

from typing import Any

from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS

from .ground_truth import GroundTruthMixin
from .sky_renderer import SKY_CLASSES, SkySceneSampler, scene_boxes

SKY_PALETTE = [(255, 190, 60), (80, 200, 120), (250, 90, 250)]


@DATASETS.register_module()
class SyntheticSkyDataset(GroundTruthMixin, BaseDetDataset):
    """Night-sky images rendered on the fly, deterministic per index and seed.

    Classes are SkyWatch's (``Plane``, ``WildLife``, ``meteorite``); no file is read. Each data
    info carries its ``scene``, which :class:`LoadSyntheticSkyImage` renders at the start of the
    pipeline, and the usual ``instances`` (boxes in pixels), so mmdet's ``LoadAnnotations`` and
    ``CocoMetric`` (with ``ann_file=None`` and ``'instances'`` in ``PackDetInputs``' meta keys)
    work unchanged. ``tools/dataset_converters/render_synthetic_sky.py`` writes the same images
    to disk as a COCO dataset.

    Args:
        num_images (int): Number of images.
        seed (int): Seed of the split: different seeds give disjoint random scenes.
        img_size (tuple[int, int]): Image size as (width, height).
        scene_cfg (dict, optional): Keyword arguments of :class:`SkySceneSampler` other than the
            size (``num_objects``, ``class_probs``, ``size_range``, ...).
        **kwargs: Arguments of :class:`mmdet.datasets.BaseDetDataset` (``pipeline``,
            ``test_mode``, ``filter_cfg``, ...). ``ann_file`` and ``data_root`` are not used.
    """

    METAINFO = dict(classes=SKY_CLASSES, palette=SKY_PALETTE)

    def __init__(
        self,
        num_images: int = 200,
        seed: int = 0,
        img_size: tuple[int, int] = (1080, 720),
        scene_cfg: dict | None = None,
        **kwargs: Any,
    ) -> None:
        if num_images < 1:
            raise ValueError(f'SyntheticSkyDataset: num_images={num_images} must be >= 1')
        self.num_images = int(num_images)
        self.seed = int(seed)
        self.sampler = SkySceneSampler(img_size[0], img_size[1], **(scene_cfg or {}))
        kwargs.setdefault('ann_file', '')
        super().__init__(**kwargs)

    def ground_truth_source(self) -> str:
        return f'SyntheticSkyDataset(seed={self.seed}, num_images={self.num_images})'

    def load_data_list(self) -> list[dict]:
        """Lays out every scene (cheap: no pixels are rendered here)."""
        data_list = []
        for index in range(self.num_images):
            scene = self.sampler.sample(self.seed, index)
            boxes, labels, _ = scene_boxes(scene)
            instances = [
                dict(bbox=box.tolist(), bbox_label=int(label), ignore_flag=0)
                for box, label in zip(boxes, labels)
            ]
            data_list.append(
                dict(
                    img_id=index,
                    img_path=f'synthetic_sky_seed{self.seed}_{index:06d}.png',
                    width=scene.width,
                    height=scene.height,
                    scene=scene,
                    instances=instances,
                )
            )
        return data_list
