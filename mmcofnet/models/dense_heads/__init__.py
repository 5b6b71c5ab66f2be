"""Dense heads."""
from .diffusion_box_head import DiffusionBoxHead

__all__ = ['DiffusionBoxHead']
