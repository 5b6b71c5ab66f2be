"""Data transforms (registered in mmdet's TRANSFORMS)."""

from .crop import SmallObjectCrop
from .loading import LoadSyntheticSkyImage

__all__ = ['LoadSyntheticSkyImage', 'SmallObjectCrop']
