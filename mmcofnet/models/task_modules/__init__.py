"""Task modules of box diffusion: the box encoding, the noise schedule and the DDIM sampler."""

from .box_encoding import decode_boxes, encode_boxes, random_boxes, timestep_embedding
from .ddim_sampler import DDIMBoxSampler
from .noise_schedule import NoiseSchedule, cosine_betas, linear_betas

__all__ = [
    'DDIMBoxSampler',
    'NoiseSchedule',
    'cosine_betas',
    'decode_boxes',
    'encode_boxes',
    'linear_betas',
    'random_boxes',
    'timestep_embedding',
]
