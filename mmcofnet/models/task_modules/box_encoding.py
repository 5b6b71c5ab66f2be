"""Boxes as diffusion signals: (cx, cy, w, h) normalised to [0, 1], scaled to [-scale, scale]."""

from __future__ import annotations

import math

import torch
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh
from torch import Tensor


def encode_boxes(boxes: Tensor, img_wh: Tensor, scale: float) -> Tensor:
    """Pixel boxes -> diffusion signal.

    Args:
        boxes (Tensor): ``[..., 4]`` (x1, y1, x2, y2) in pixels.
        img_wh (Tensor): ``[..., 2]`` image (width, height), broadcastable to
            ``boxes[..., :2]``.
        scale (float): Signal scale (signal-to-noise factor): [0, 1] maps to [-scale, scale].

    Returns:
        Tensor: ``[..., 4]`` scaled (cx, cy, w, h).
    """
    whwh = torch.cat([img_wh, img_wh], dim=-1)
    return (bbox_xyxy_to_cxcywh(boxes) / whwh * 2 - 1) * scale


def decode_boxes(signal: Tensor, img_wh: Tensor, scale: float) -> Tensor:
    """Inverse of :func:`encode_boxes`; the signal is clamped to [-scale, scale] first."""
    whwh = torch.cat([img_wh, img_wh], dim=-1)
    cxcywh = (signal.clamp(-scale, scale) / scale + 1) / 2
    return bbox_cxcywh_to_xyxy(cxcywh * whwh)


def timestep_embedding(t: Tensor, dims: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of (diffusion) steps: ``[B]`` -> ``[B, dims]`` (sin | cos)."""
    half = dims // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half
    )
    args = t.float()[:, None] * freqs
    return torch.cat([args.sin(), args.cos()], dim=-1)


def random_boxes(
    num: int, generator: torch.Generator | None = None, device: torch.device | str = 'cpu'
) -> Tensor:
    """Random normalised (cx, cy, w, h) boxes, as DiffusionDet pads ground truth: ``[num, 4]``."""
    boxes = torch.randn(num, 4, generator=generator, device=device) / 6 + 0.5
    boxes[:, 2:] = boxes[:, 2:].clamp(min=1e-4)
    return boxes.clamp(0, 1)
