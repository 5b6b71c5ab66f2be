"""Engine: hooks (registered in mmdet's HOOKS)."""

from .hooks import InferenceSpeedHook, SkyVisualizationHook, TestScalarsHook

__all__ = ['InferenceSpeedHook', 'SkyVisualizationHook', 'TestScalarsHook']
