"""Dense heads: the diffusion box head and its objectness map."""

from .diffusion_box_head import DiffusionBoxHead
from .objectness_map import ObjectnessMap

__all__ = ['DiffusionBoxHead', 'ObjectnessMap']
