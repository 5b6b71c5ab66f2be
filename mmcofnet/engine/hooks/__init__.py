"""Hooks (registered in mmdet's HOOKS)."""

from .checkpoint_hook import AtomicCheckpointHook
from .inference_speed_hook import InferenceSpeedHook
from .non_finite_loss_hook import NonFiniteLossHook
from .ssl_hooks import PretrainedWeightsHook, SSLLossWeightHook
from .test_scalars_hook import TestScalarsHook
from .visualization_hook import SkyVisualizationHook

__all__ = [
    'AtomicCheckpointHook',
    'InferenceSpeedHook',
    'NonFiniteLossHook',
    'PretrainedWeightsHook',
    'SSLLossWeightHook',
    'SkyVisualizationHook',
    'TestScalarsHook',
]
