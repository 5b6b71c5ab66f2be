"""Dense heads."""
from .diffusion_box_head import BoxSampler, DiffusionBoxHead, FieldFeatures

__all__ = ['BoxSampler', 'DiffusionBoxHead', 'FieldFeatures']
