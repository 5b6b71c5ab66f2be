"""Task modules: the noise schedule and the box encoding of box diffusion."""
from .box_encoding import decode_boxes, encode_boxes, random_boxes, timestep_embedding
from .noise_schedule import NoiseSchedule, cosine_betas, linear_betas

__all__ = [
    'NoiseSchedule', 'cosine_betas', 'decode_boxes', 'encode_boxes', 'linear_betas',
    'random_boxes', 'timestep_embedding'
]
