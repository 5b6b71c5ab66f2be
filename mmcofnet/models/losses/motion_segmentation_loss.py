"""MotionSegmentationLoss: the objectness map against the motion mask of a frame pair."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class MotionSegmentationLoss(nn.Module):
    """Binary cross-entropy of the class-agnostic objectness logit against a motion mask.

    Things that move against the sky are objects: the map's class-agnostic logit (the max over
    its K class logits) learns the motion mask, reduced to the map's grid. A cell is positive when
    any mask pixel falls inside it (max-pooling by the stride): an object a few pixels wide covers
    a fraction of one cell, and an average would wash it out.

    Moving pixels are rare in a sky frame, so positives are weighted by ``pos_weight``; by default
    by the batch's ratio of negative to positive cells (the two classes then weigh the same in
    total), clamped to ``[1, max_pos_weight]`` (a frame that is mostly moving, such as a close
    bird, does not make its positives weigh less than its negatives).

    Args:
        pos_weight (float, optional): Weight of the positive cells; None: the batch's
            negatives/positives ratio, clamped to ``[1, max_pos_weight]``.
        max_pos_weight (float): Upper bound of the automatic ``pos_weight``.
        loss_weight (float): Weight of the loss.
    """

    def __init__(
        self,
        pos_weight: float | None = None,
        max_pos_weight: float = 100.0,
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if pos_weight is not None and pos_weight <= 0:
            raise ValueError(f'MotionSegmentationLoss: pos_weight={pos_weight} must be > 0')
        if max_pos_weight <= 0:
            raise ValueError(f'MotionSegmentationLoss: max_pos_weight={max_pos_weight} must be > 0')
        self.pos_weight = pos_weight
        self.max_pos_weight = float(max_pos_weight)
        self.loss_weight = float(loss_weight)

    def forward(
        self, logits: Tensor, mask: Tensor, stride: int, valid: Tensor | None = None
    ) -> Tensor:
        """The weighted BCE, averaged over the (valid) cells of the batch.

        Args:
            logits (Tensor): ``[B, 1, h, w]`` class-agnostic objectness logits at ``stride``.
            mask (Tensor): ``[B, 1, H, W]`` motion mask (0/1) in input pixels; cropped or padded
                with zeros to ``(h * stride, w * stride)``.
            stride (int): Stride of the map in input pixels.
            valid (Tensor, optional): ``[B, 1, H, W]`` 0/1, the pixels inside the images (not
                padding); cells without any valid pixel are left out. None: every cell counts.

        Returns:
            Tensor: The loss (a scalar).
        """
        if logits.dim() != 4 or logits.shape[1] != 1:
            raise ValueError(
                f'MotionSegmentationLoss: logits must be [B, 1, h, w], got {tuple(logits.shape)}'
            )
        target = reduce_to_grid(mask, logits.shape[-2:], stride).to(logits.dtype)
        if valid is None:
            weight = torch.ones_like(target)
        else:
            weight = reduce_to_grid(valid, logits.shape[-2:], stride).to(logits.dtype)
        num_pos = (target * weight).sum()
        num_neg = ((1 - target) * weight).sum()
        if self.pos_weight is not None:
            pos_weight = logits.new_tensor(self.pos_weight)
        else:  # without positives the weight does not matter (and no device sync to check)
            pos_weight = (num_neg / num_pos.clamp(min=1)).clamp(1.0, self.max_pos_weight)
        loss = F.binary_cross_entropy_with_logits(
            logits, target, pos_weight=pos_weight, reduction='none'
        )
        return self.loss_weight * (loss * weight).sum() / weight.sum().clamp(min=1)


def reduce_to_grid(mask: Tensor, size: tuple[int, int], stride: int) -> Tensor:
    """A pixel mask -> a cell mask: 1 where any pixel of the cell is set (max-pooling).

    Args:
        mask (Tensor): ``[B, C, H, W]`` 0/1 mask in input pixels.
        size (tuple[int, int]): ``(h, w)`` of the grid.
        stride (int): Cell size in pixels.

    Returns:
        Tensor: ``[B, C, h, w]`` float mask.
    """
    if mask.dim() != 4:
        raise ValueError(f'reduce_to_grid: mask must be [B, C, H, W], got {tuple(mask.shape)}')
    h, w = size
    mask = mask.float()[..., : h * stride, : w * stride]
    pad_h, pad_w = h * stride - mask.shape[-2], w * stride - mask.shape[-1]
    if pad_h or pad_w:
        mask = F.pad(mask, (0, pad_w, 0, pad_h))
    return F.max_pool2d(mask, stride, stride) if stride > 1 else mask
