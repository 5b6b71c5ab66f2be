"""Engine: hooks (registered in mmdet's HOOKS)."""

from .hooks import (
    AtomicCheckpointHook,
    InferenceSpeedHook,
    SkyVisualizationHook,
    TestScalarsHook,
)

__all__ = ['AtomicCheckpointHook', 'InferenceSpeedHook', 'SkyVisualizationHook', 'TestScalarsHook']
