"""Hooks (registered in mmdet's HOOKS)."""

from .inference_speed_hook import InferenceSpeedHook
from .test_scalars_hook import TestScalarsHook
from .visualization_hook import SkyVisualizationHook

__all__ = ['InferenceSpeedHook', 'SkyVisualizationHook', 'TestScalarsHook']
