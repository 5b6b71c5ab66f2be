"""Building blocks: selective-scan mixers and residual blocks, the denoiser's stages."""

from .denoising_stage import BoxRoIAttention, DenoisingStage
from .mamba_block import MambaBlock, causal_conv1d
from .ssm import DirectionalSSM
from .vss_block import SS2D, ChannelMLP, VSSBlock

__all__ = [
    'BoxRoIAttention',
    'ChannelMLP',
    'DenoisingStage',
    'DirectionalSSM',
    'MambaBlock',
    'SS2D',
    'VSSBlock',
    'causal_conv1d',
]
