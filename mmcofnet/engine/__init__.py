"""Engine: hooks (registered in mmdet's HOOKS)."""
from .hooks import SkyVisualizationHook

__all__ = ['SkyVisualizationHook']
