"""Building blocks: selective-scan mixers, residual blocks, denoising stages, objectness map."""

from .denoising_stage import BoxRoIAttention, DenoisingStage
from .mamba_block import MambaBlock, causal_conv1d
from .objectness_map import ObjectnessMap
from .ssm import DirectionalSSM
from .vss_block import SS2D, ChannelMLP, SepConvMixer, VSSBlock

__all__ = [
    'BoxRoIAttention',
    'ChannelMLP',
    'DenoisingStage',
    'DirectionalSSM',
    'MambaBlock',
    'ObjectnessMap',
    'SS2D',
    'SepConvMixer',
    'VSSBlock',
    'causal_conv1d',
]
