"""Datasets and transforms (registered in mmdet's DATASETS and TRANSFORMS)."""

from .sky_renderer import (
    SKY_CLASSES,
    SkyObject,
    SkyScene,
    SkySceneSampler,
    render_frame,
    scene_boxes,
)
from .skywatch import SkyWatchDataset
from .synthetic_sky import SyntheticSkyDataset
from .transforms import LoadSyntheticSkyImage, SmallObjectCrop

__all__ = [
    'SKY_CLASSES',
    'LoadSyntheticSkyImage',
    'SkyObject',
    'SkyScene',
    'SkySceneSampler',
    'SkyWatchDataset',
    'SmallObjectCrop',
    'SyntheticSkyDataset',
    'render_frame',
    'scene_boxes',
]
