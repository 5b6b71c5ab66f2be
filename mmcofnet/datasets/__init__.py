"""Datasets and transforms (registered in mmdet's DATASETS and TRANSFORMS)."""

from .ground_truth import GroundTruthMixin, SkyCocoDataset, validate_ground_truth
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
    LoadCheckedImageFromFile,
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
    'GroundTruthMixin',
    'LoadCheckedImageFromFile',
    'LoadFramePair',
    'LoadSyntheticSkyImage',
    'MotionTargets',
    'PackPairInputs',
    'PairRandomCrop',
    'PairRandomFlip',
    'SkyObject',
    'SkyScene',
    'SkySceneSampler',
    'SkyCocoDataset',
    'SkyVideoPairDataset',
    'SkyWatchDataset',
    'SmallObjectCrop',
    'SyntheticSkyDataset',
    'render_frame',
    'scene_boxes',
    'validate_ground_truth',
]
