"""Data transforms (registered in mmdet's TRANSFORMS)."""

from .crop import SmallObjectCrop
from .frame_pairs import LoadFramePair, PackPairInputs, PairRandomCrop, PairRandomFlip
from .loading import LoadCheckedImageFromFile, LoadSyntheticSkyImage
from .motion import MotionTargets, camera_flow, fit_camera_motion, noise_level, textured_points

__all__ = [
    'LoadCheckedImageFromFile',
    'LoadFramePair',
    'LoadSyntheticSkyImage',
    'MotionTargets',
    'PackPairInputs',
    'PairRandomCrop',
    'PairRandomFlip',
    'SmallObjectCrop',
    'camera_flow',
    'fit_camera_motion',
    'noise_level',
    'textured_points',
]
