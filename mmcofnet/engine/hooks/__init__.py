"""Hooks (registered in mmdet's HOOKS)."""
from .visualization_hook import SkyVisualizationHook

__all__ = ['SkyVisualizationHook']
