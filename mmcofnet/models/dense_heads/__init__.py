"""Dense heads: the diffusion box head."""

from .diffusion_box_head import DiffusionBoxHead

__all__ = ['DiffusionBoxHead']
