"""Datasets and transforms (registered in mmdet's DATASETS and TRANSFORMS)."""

from .sky_renderer import (
    SKY_CLASSES,
    SkyObject,
    SkyScene,
    SkySceneSampler,
    render_frame,
    scene_boxes,
)
from .sky_video_pairs import SkyVideoPairDataset
from .skywatch import SkyWatchDataset
from .synthetic_sky import SyntheticSkyDataset
from .transforms import (
    LoadFramePair,
    LoadSyntheticSkyImage,
    MotionTargets,
    PackPairInputs,
    PairRandomCrop,
    PairRandomFlip,
    SmallObjectCrop,
)

__all__ = [
    'SKY_CLASSES',
    'LoadFramePair',
    'LoadSyntheticSkyImage',
    'MotionTargets',
    'PackPairInputs',
    'PairRandomCrop',
    'PairRandomFlip',
    'SkyObject',
    'SkyScene',
    'SkySceneSampler',
    'SkyVideoPairDataset',
    'SkyWatchDataset',
    'SmallObjectCrop',
    'SyntheticSkyDataset',
    'render_frame',
    'scene_boxes',
]
