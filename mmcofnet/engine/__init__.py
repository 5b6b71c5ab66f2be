"""Engine: hooks (mmdet's HOOKS) and optimizer wrappers (mmdet's OPTIM_WRAPPERS)."""

from .hooks import (
    AtomicCheckpointHook,
    InferenceSpeedHook,
    NonFiniteLossHook,
    SkyVisualizationHook,
    TestScalarsHook,
)
from .optimizers import SkipNonFiniteOptimWrapper

__all__ = [
    'AtomicCheckpointHook',
    'InferenceSpeedHook',
    'NonFiniteLossHook',
    'SkipNonFiniteOptimWrapper',
    'SkyVisualizationHook',
    'TestScalarsHook',
]
