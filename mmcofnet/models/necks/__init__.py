"""Necks."""

from .continuous_scale_field import P3_P7_SCALES, BoxSampler, ContinuousScaleField, FieldFeatures
from .scale_encoding import (
    FourierScaleEncoding,
    ScaleEmbedding,
    SirenMLP,
    scale_to_stride,
    stride_to_scale,
)

__all__ = [
    'P3_P7_SCALES',
    'BoxSampler',
    'ContinuousScaleField',
    'FieldFeatures',
    'FourierScaleEncoding',
    'ScaleEmbedding',
    'SirenMLP',
    'scale_to_stride',
    'stride_to_scale',
]
