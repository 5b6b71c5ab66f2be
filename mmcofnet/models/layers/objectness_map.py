"""ObjectnessMap: CenterNet-style per-class centre heatmaps, box sizes and centre offsets."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from mmdet.models.utils import gaussian_radius, gen_gaussian_target
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, InstanceList, OptMultiConfig, reduce_mean
from mmengine.model import BaseModule, bias_init_with_prob
from torch import Tensor, nn


@MODELS.register_module()
class ObjectnessMap(BaseModule):
    """Where the objects are, densely, on the finest field level (as CenterNet).

    The map has ``K + 4`` channels: K class heatmap logits (object centres), then the log width
    and log height of the object (in strides), then the centre's x and y offsets inside its cell
    (in strides). The box head's set losses reach the features only at the sampled boxes; the
    map gives every position of the finest level a gradient. Its peaks start the diffusion
    sampler (``DiffusionBoxHead``'s ``prior_proposals``), its values can rescore the boxes, and
    it is the module that self-supervised pretraining trains.

    Args:
        num_classes (int): K, the number of classes.
        in_channels (int): Channels of the field level the map is predicted from.
        stride (int): Stride of that level in pixels.
        loss_heatmap (ConfigType): Loss of the class heatmaps against Gaussians at the object
            centres (CenterNet's focal loss).
        loss_size (ConfigType): L1 loss of the log sizes at the object centres.
        loss_offset (ConfigType): L1 loss of the centre offsets: without them a peak puts the
            centre in the middle of its cell, 2 px off on average at stride 8, which for an
            object 10 px wide is the difference between IoU 0.5 and 0.75.
        init_cfg (OptMultiConfig): Initialisation config.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        stride: int = 8,
        loss_heatmap: ConfigType = dict(type='GaussianFocalLoss', loss_weight=1.0),
        loss_size: ConfigType = dict(type='L1Loss', loss_weight=0.5),
        loss_offset: ConfigType = dict(type='L1Loss', loss_weight=1.0),
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.stride = stride
        self.conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.out = nn.Conv2d(in_channels, num_classes + 4, 1)
        self.loss_heatmap = MODELS.build(loss_heatmap)
        self.loss_size = MODELS.build(loss_size)
        self.loss_offset = MODELS.build(loss_offset)

    def init_weights(self) -> None:
        super().init_weights()
        k, bias = self.num_classes, self.out.bias
        nn.init.constant_(bias[:k], bias_init_with_prob(0.01))
        nn.init.constant_(bias[k : k + 2], 1.0)  # sizes e^1 strides
        nn.init.constant_(bias[k + 2 :], 0.5)  # centres mid-cell

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        # Checkpoints from before the map was its own module hold an ``nn.Sequential``
        # (conv, ReLU, conv): ``0.*`` is ``conv.*`` and ``2.*`` is ``out.*``.
        for old, new in (('0.', 'conv.'), ('2.', 'out.')):
            for name in ('weight', 'bias'):
                if prefix + old + name in state_dict:
                    state_dict[prefix + new + name] = state_dict.pop(prefix + old + name)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` finest field level -> ``[B, K + 4, H, W]`` map logits."""
        return self.out(F.relu(self.conv(x), inplace=True))

    def loss(self, logits: Tensor, gts: InstanceList) -> dict[str, Tensor]:
        """CenterNet-style losses of the map against the ground truth.

        Args:
            logits (Tensor): ``[B, K + 4, H, W]`` the map.
            gts (InstanceList): Per image ground truth (``bboxes`` in pixels, ``labels``).

        Returns:
            dict[str, Tensor]: ``loss_objectness`` (focal loss of the class heatmaps),
            ``loss_objectness_size`` (L1 of log width and height at the centres) and
            ``loss_objectness_offset`` (L1 of the centres' offsets in their cells), averaged over
            the objects of the batch.
        """
        k, stride = self.num_classes, self.stride
        heat_target = torch.zeros_like(logits[:, :k])
        centres, targets = [], []
        for i, gt in enumerate(gts):
            for (x1, y1, x2, y2), label in zip((gt.bboxes / stride).tolist(), gt.labels.tolist()):
                w, h = max(x2 - x1, 1e-2), max(y2 - y1, 1e-2)
                fx, fy = (x1 + x2) / 2, (y1 + y2) / 2
                cx, cy = min(int(fx), logits.shape[-1] - 1), min(int(fy), logits.shape[-2] - 1)
                radius = max(0, int(gaussian_radius((h, w), min_overlap=0.3)))
                gen_gaussian_target(heat_target[i, label], [cx, cy], radius)
                centres.append((i, cy, cx))
                targets.append((math.log(w), math.log(h), fx - cx, fy - cy))
        num_objects = reduce_mean(logits.new_tensor(len(centres))).clamp(min=1).item()
        loss_heat = self.loss_heatmap(
            logits[:, :k].sigmoid().clamp(1e-4, 1 - 1e-4), heat_target, avg_factor=num_objects
        )
        if not centres:
            zero = logits[:, k:].sum() * 0
            return dict(
                loss_objectness=loss_heat, loss_objectness_size=zero, loss_objectness_offset=zero
            )
        b, y, x = logits.new_tensor(centres, dtype=torch.long).unbind(1)
        pred, target = logits[b, k:, y, x], logits.new_tensor(targets)  # [M, 4] each
        return dict(
            loss_objectness=loss_heat,
            loss_objectness_size=self.loss_size(pred[:, :2], target[:, :2], avg_factor=num_objects),
            loss_objectness_offset=self.loss_offset(
                pred[:, 2:], target[:, 2:], avg_factor=num_objects
            ),
        )

    def peaks(self, logits: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """Boxes at the ``k`` strongest local maxima of the map, sized as the map says.

        Args:
            logits (Tensor): ``[B, K + 4, H, W]`` the map.
            k (int): Number of peaks (at most H x W).

        Returns:
            tuple: ``[B, k, 4]`` boxes (xyxy px) and their heat ``[B, k]``, strongest first;
            heat 0 marks positions that are no local maximum (fewer than ``k`` peaks).
        """
        heat = logits[:, : self.num_classes].sigmoid().amax(dim=1, keepdim=True)
        peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
        k = min(k, peaks[0].numel())
        values, index = self.strongest(peaks.flatten(1), k)  # [B, k]
        width, stride = heat.shape[-1], self.stride
        geometry = (
            logits[:, self.num_classes :]
            .flatten(2)
            .gather(2, index[:, None].expand(-1, 4, -1))
            .transpose(1, 2)
        )  # [B, k, 4]
        cell = torch.stack([index % width, index // width], dim=-1).to(heat.dtype)
        centre = (cell + geometry[..., 2:].clamp(0, 1)) * stride
        half = geometry[..., :2].clamp(max=8).exp() * stride / 2
        return torch.cat([centre - half, centre + half], dim=-1), values

    def strongest(self, values: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """The ``k`` largest of ``values [B, M]`` and their indices, ties to the lower index.

        ``topk`` orders ties as its kernel happens to; the zeros where fewer than ``k`` cells are
        maxima are such ties, and their boxes join the others in the stages' self-attention. A
        stable sort orders them as ONNX's TopK does (the export's rewriter uses TopK), so that
        the exported model starts from exactly the boxes PyTorch starts from.
        """
        values, index = values.sort(dim=1, descending=True, stable=True)
        return values[:, :k], index[:, :k]

    def scores_at(self, logits: Tensor, boxes: Tensor) -> Tensor:
        """The class heatmaps at the box centres.

        Args:
            logits (Tensor): ``[B, K + 4, H, W]`` the map.
            boxes (Tensor): ``[B, N, 4]`` boxes (xyxy px).

        Returns:
            Tensor: ``[B, N, K]`` heatmap values (bilinear at the centres).
        """
        heat = logits[:, : self.num_classes].sigmoid()
        h, w = heat.shape[-2:]
        centre = (boxes[..., :2] + boxes[..., 2:]) / 2
        grid = torch.stack(
            [centre[..., 0] / (w * self.stride), centre[..., 1] / (h * self.stride)], -1
        )
        sampled = F.grid_sample(heat, grid[:, :, None] * 2 - 1, align_corners=False)
        return sampled[..., 0].transpose(1, 2)
