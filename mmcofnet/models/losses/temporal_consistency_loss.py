"""TemporalConsistencyLoss: detections on frame t, moved by the flow, agree with frame t + k's."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_overlaps
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

if TYPE_CHECKING:
    from ..layers.objectness_map import ObjectnessMap


@MODELS.register_module()
class TemporalConsistencyLoss(nn.Module):
    """The objectness map's detections on frame t, moved by the optical flow, should be its
    detections on frame t + k.

    The map's ``num_peaks`` strongest peaks on each frame are its detections (boxes, with their
    heat). Each box of frame t moves by the flow sampled (bilinearly) at its centre; the moved
    boxes are matched one-to-one (Hungarian) to frame t + k's boxes on the cost

        ||centre_moved - centre_{t+k}|| / stride + (1 - IoU(moved, box_{t+k})).

    Pairs whose centres lie within ``max_distance`` strides count. Per pair the loss is the L1
    distance of the moved box to the box at t + k (sum over x1, y1, x2, y2, in strides: the
    map's size and offset channels get the gradient) plus the absolute difference of their
    heat (the heatmaps get the gradient), weighted by the pair's detached confidence, the smaller
    of the two heats, so that the sky's weak background peaks weigh little. The loss is averaged
    over the pairs of the batch; without any pair it is zero (with a graph, for DDP).

    The flow is data: no gradient flows through where it is sampled.

    Args:
        num_peaks (int): Detections per frame (the map's strongest local maxima).
        max_distance (float): Largest centre distance of a pair, in strides (after moving).
        score_thr (float): Detections with heat at or below it are ignored (0: every local
            maximum counts; the weighting by confidence keeps the weak ones small).
        loss_weight (float): Weight of the loss.
    """

    def __init__(
        self,
        num_peaks: int = 20,
        max_distance: float = 3.0,
        score_thr: float = 0.0,
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if num_peaks < 1:
            raise ValueError(f'TemporalConsistencyLoss: num_peaks={num_peaks} must be >= 1')
        if max_distance <= 0:
            raise ValueError(f'TemporalConsistencyLoss: max_distance={max_distance} must be > 0')
        self.num_peaks = int(num_peaks)
        self.max_distance = float(max_distance)
        self.score_thr = float(score_thr)
        self.loss_weight = float(loss_weight)

    def forward(
        self, logits_t: Tensor, logits_k: Tensor, flow: Tensor, objectness: ObjectnessMap
    ) -> Tensor:
        """The loss of a batch of frame pairs.

        Args:
            logits_t (Tensor): ``[B, K + 4, h, w]`` the objectness map of frame t.
            logits_k (Tensor): ``[B, K + 4, h, w]`` the objectness map of frame t + k.
            flow (Tensor): ``[B, 2, H, W]`` displacement (dx, dy) in input pixels from frame t to
                frame t + k, on frame t's pixel grid (the input's size).
            objectness (ObjectnessMap): The map (its ``peaks`` and ``stride``).

        Returns:
            Tensor: The loss (a scalar).
        """
        if flow.dim() != 4 or flow.shape[1] != 2:
            raise ValueError(
                f'TemporalConsistencyLoss: flow must be [B, 2, H, W], got {tuple(flow.shape)}'
            )
        if logits_t.shape != logits_k.shape or len(flow) != len(logits_t):
            raise ValueError(
                'TemporalConsistencyLoss: logits_t, logits_k and flow must share the batch '
                f'(and the maps their shape): {tuple(logits_t.shape)}, {tuple(logits_k.shape)}, '
                f'{tuple(flow.shape)}'
            )
        stride = float(objectness.stride)
        boxes_t, heat_t = objectness.peaks(logits_t, self.num_peaks)
        boxes_k, heat_k = objectness.peaks(logits_k, self.num_peaks)
        moved = boxes_t + sample_flow(flow, box_centres(boxes_t.detach())).repeat(1, 1, 2)
        pair_losses = []
        for i in range(len(logits_t)):
            index_t = (heat_t[i] > self.score_thr).nonzero()[:, 0]
            index_k = (heat_k[i] > self.score_thr).nonzero()[:, 0]
            if not len(index_t) or not len(index_k):
                continue
            rows, cols = self.match(
                moved[i, index_t].detach(), boxes_k[i, index_k].detach(), stride
            )
            if not len(rows):
                continue
            a, b = index_t[rows], index_k[cols]
            box_l1 = (moved[i, a] - boxes_k[i, b]).abs().sum(-1) / stride
            heat_l1 = (heat_t[i, a] - heat_k[i, b]).abs()
            confidence = torch.minimum(heat_t[i, a], heat_k[i, b]).detach()
            pair_losses.append(confidence * (box_l1 + heat_l1))
        if not pair_losses:
            return (logits_t.sum() + logits_k.sum()) * 0
        losses = torch.cat(pair_losses)
        return self.loss_weight * losses.sum() / len(losses)

    def match(self, moved: Tensor, boxes: Tensor, stride: float) -> tuple[Tensor, Tensor]:
        """Hungarian matching of moved frame-t boxes to frame t + k's, within ``max_distance``.

        Args:
            moved (Tensor): ``[N, 4]`` frame t's boxes moved by the flow (xyxy px).
            boxes (Tensor): ``[M, 4]`` frame t + k's boxes (xyxy px).
            stride (float): Stride of the map (the unit of the centre distance).

        Returns:
            tuple: indices into ``moved`` and into ``boxes`` (``[P]`` long each) of the pairs.
        """
        distance = torch.cdist(box_centres(moved), box_centres(boxes)) / stride
        cost = distance + 1 - bbox_overlaps(moved, boxes)
        if not torch.isfinite(cost).all():  # scipy's message would not say which
            raise FloatingPointError(
                'TemporalConsistencyLoss: non-finite boxes from the objectness map (or the flow)'
            )
        rows, cols = linear_sum_assignment(cost.cpu().numpy())
        rows = torch.as_tensor(rows, dtype=torch.long, device=moved.device)
        cols = torch.as_tensor(cols, dtype=torch.long, device=moved.device)
        close = distance[rows, cols] <= self.max_distance
        return rows[close], cols[close]


def box_centres(boxes: Tensor) -> Tensor:
    """``[..., 4]`` xyxy boxes -> ``[..., 2]`` centres."""
    return (boxes[..., :2] + boxes[..., 2:]) / 2


def sample_flow(flow: Tensor, points: Tensor) -> Tensor:
    """The flow at given points, bilinearly (clamped to the border).

    Args:
        flow (Tensor): ``[B, 2, H, W]`` flow in pixels (pixel ``(i, j)`` covers ``[j, j + 1) x
            [i, i + 1)``: its value is taken at ``(j + 0.5, i + 0.5)``).
        points (Tensor): ``[B, N, 2]`` (x, y) in pixels.

    Returns:
        Tensor: ``[B, N, 2]`` (dx, dy) at the points.
    """
    h, w = flow.shape[-2:]
    grid = points / points.new_tensor([w, h]) * 2 - 1
    sampled = F.grid_sample(
        flow.to(points.dtype), grid[:, :, None], align_corners=False, padding_mode='border'
    )
    return sampled[..., 0].transpose(1, 2)
