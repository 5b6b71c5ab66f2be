"""Building blocks shared by the backbones: selective-scan mixers and residual blocks."""
from .mamba_block import MambaBlock, causal_conv1d
from .ssm import DirectionalSSM
from .vss_block import SS2D, ChannelMLP, VSSBlock

__all__ = ['ChannelMLP', 'DirectionalSSM', 'MambaBlock', 'SS2D', 'VSSBlock', 'causal_conv1d']
