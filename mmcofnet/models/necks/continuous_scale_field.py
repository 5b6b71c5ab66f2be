"""ContinuousScaleField: a neck whose features exist at every continuous scale, not five levels."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.registry import MODELS
from mmdet.utils import MultiConfig, OptConfigType
from mmengine.model import BaseModule
from torch import Tensor, nn

from ...utils import size_tensor
from .scale_encoding import ScaleEmbedding, scale_to_stride, stride_to_scale

# The scales of FPN's P3-P7 (strides 8, 16, 32, 64, 128), which mmdet's dense heads expect.
P3_P7_SCALES = (1 / 3, 2 / 3, 1.0, 4 / 3, 5 / 3)

# ``sampler(boxes [B, N, 4] xyxy px) -> [B, N, C, R, R]``: features at each box, each at its own
# scale (:meth:`ContinuousScaleField.box_sampler`).
BoxSampler = Callable[[Tensor], Tensor]


class FieldFeatures(NamedTuple):
    """What a box head reads from the field: its levels and a per-box sampler."""

    levels: list[Tensor]  # [B, C, H_l, W_l] per level, finest first
    sample: BoxSampler


@MODELS.register_module()
class ContinuousScaleField(BaseModule):
    """Continuous Scale Field neck: F(x, y, s) for any scale s, a drop-in replacement for FPN.

    Scale is log-stride, ``s = (log2(stride) - 2) / 3``: s = 0 is stride 4, 1/3 stride 8, 2/3
    stride 16, 1 stride 32, and values in between are continuous. Every backbone level is
    projected to ``out_channels`` (with FPN's top-down fusion and 3x3 smoothing when
    ``top_down``); the field at scale s resamples the two levels around s to the resolution of
    stride(s), blends them linearly in log-stride and modulates the result FiLM-style by the scale
    embedding psi(s) = SIREN(Fourier(s)):

        F(., s) = ((1 - w) L_i + w L_{i+1}) * (1 + gamma(psi(s))) + beta(psi(s))

    Scales above the coarsest input level (stride 64 = 4/3, 128 = 5/3) come from stride-2 3x3
    convolutions on the coarsest map, as FPN's extra levels do. The FiLM projection starts at
    zero, so an untrained field equals the blended levels.

    gamma and beta act on whole maps: each of their weights moves every pixel of a channel at
    once. Under Adam every weight steps by about the learning rate, so at the convolutions' rate
    the modulation swings whole channels (on halmstad-sky at lr 5e-4 gamma reached -1, switching
    channels off, and the detector learnt nothing: README, "CSF vs FPN"). ``modulation_scale``
    multiplies the FiLM output, which slows the modulation by that factor.

    Args:
        in_channels (Sequence[int]): Channels of each backbone level.
        out_channels (int): Channels of the field.
        in_strides (Sequence[int]): Stride of each backbone level (powers of two, increasing).
        out_scales (Sequence[float]): Scales returned by :meth:`forward` (default P3-P7,
            strides 8-128).
        top_down (bool): Add FPN's top-down pathway and 3x3 output convolutions to the
            projections.
        num_bands (int): Fourier frequencies of the scale encoding.
        embed_dims (int): Width of the SIREN scale embedding psi(s).
        siren_layers (int): Sine layers of the SIREN.
        omega_0 (float): Frequency factor of the SIREN.
        modulation_scale (float): Factor on the FiLM output (gamma, beta); under Adam it is the
            modulation's learning speed relative to the convolutions'.
        roi_size (int): Side of the per-box feature grid returned by :meth:`sample`.
        box_scale_ref (float): Box size (sqrt of area, px) sampled at scale 0 (stride 4); a box
            k times larger is sampled at stride 4k, capped at the coarsest input level.
        conv_cfg, norm_cfg, act_cfg (OptConfigType): Configs of the projection and smoothing
            convolutions.
        init_cfg (MultiConfig): Initialisation config.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int = 256,
        in_strides: Sequence[int] = (4, 8, 16, 32),
        out_scales: Sequence[float] = P3_P7_SCALES,
        top_down: bool = True,
        num_bands: int = 4,
        embed_dims: int = 64,
        siren_layers: int = 3,
        omega_0: float = 3.0,
        modulation_scale: float = 0.1,
        roi_size: int = 7,
        box_scale_ref: float = 8.0,
        conv_cfg: OptConfigType = None,
        norm_cfg: OptConfigType = None,
        act_cfg: OptConfigType = None,
        init_cfg: MultiConfig = dict(type='Xavier', layer='Conv2d', distribution='uniform'),
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != len(in_strides):
            raise ValueError(
                f'ContinuousScaleField: {len(in_channels)} in_channels but '
                f'{len(in_strides)} in_strides ({in_channels} vs {in_strides})'
            )
        if any(b != 2 * a for a, b in zip(in_strides, in_strides[1:])):
            raise ValueError(
                f'ContinuousScaleField: in_strides={tuple(in_strides)} must double '
                'from level to level'
            )
        scales = [float(s) for s in out_scales]
        if not scales or min(scales) < stride_to_scale(in_strides[0]):
            raise ValueError(
                f'ContinuousScaleField: out_scales={tuple(out_scales)} must be '
                f'non-empty and >= the finest level scale '
                f'{stride_to_scale(in_strides[0]):.4f} (stride {in_strides[0]})'
            )
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.in_strides = list(in_strides)
        self.out_scales = scales
        self.top_down = top_down
        self.roi_size = roi_size
        self.modulation_scale = modulation_scale
        self.box_scale_ref = box_scale_ref

        conv_kwargs = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.lateral_convs = nn.ModuleList(
            ConvModule(c, out_channels, 1, inplace=False, **conv_kwargs) for c in in_channels
        )
        self.smooth_convs = (
            nn.ModuleList(
                ConvModule(out_channels, out_channels, 3, padding=1, inplace=False, **conv_kwargs)
                for _ in in_channels
            )
            if top_down
            else None
        )
        # Extra octaves above the coarsest input level, enough for the largest output scale.
        coarsest = stride_to_scale(in_strides[-1])
        num_extra = max(0, math.ceil(round((max(scales) - coarsest) * 3, 6)))
        self.extra_convs = nn.ModuleList(
            nn.Conv2d(out_channels, out_channels, 3, stride=2, padding=1) for _ in range(num_extra)
        )
        extra_strides = [in_strides[-1] * 2 ** (k + 1) for k in range(num_extra)]
        self.level_strides = self.in_strides + extra_strides
        self.register_buffer(
            'level_scales',
            torch.tensor([stride_to_scale(s) for s in self.level_strides], dtype=torch.float32),
            persistent=False,
        )

        self.scale_embed = ScaleEmbedding(num_bands, embed_dims, siren_layers, omega_0)
        self.film = nn.Linear(embed_dims, 2 * out_channels)

    def init_weights(self) -> None:
        super().init_weights()
        # Identity modulation at the start: the field begins as the blended levels.
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    # -- the levels the field interpolates ---------------------------------------------------

    def build_levels(self, feats: Sequence[Tensor], max_scale: float | None = None) -> list[Tensor]:
        """Projects (and fuses) the backbone levels; adds extra levels up to ``max_scale``.

        Args:
            feats (Sequence[Tensor]): Backbone maps, ``[B, in_channels[i], H_i, W_i]`` at
                ``in_strides[i]``.
            max_scale (float, optional): Largest scale needed (default: the largest of
                ``out_scales``).

        Returns:
            list[Tensor]: ``[B, out_channels, H_l, W_l]`` per level, finest first.
        """
        if len(feats) != len(self.in_channels):
            raise ValueError(
                f'ContinuousScaleField: expected {len(self.in_channels)} feature '
                f'maps (in_channels={self.in_channels}), got {len(feats)}'
            )
        levels = [conv(x) for conv, x in zip(self.lateral_convs, feats)]
        if self.top_down:
            for i in range(len(levels) - 1, 0, -1):
                levels[i - 1] = levels[i - 1] + F.interpolate(
                    levels[i], size=levels[i - 1].shape[-2:], mode='nearest'
                )
            levels = [conv(x) for conv, x in zip(self.smooth_convs, levels)]
        max_scale = max(self.out_scales) if max_scale is None else max_scale
        num_extra = int((self.level_scales[len(feats) :] <= max_scale + 1e-6).sum())
        for k, conv in enumerate(self.extra_convs[:num_extra]):
            levels.append(conv(levels[-1] if k == 0 else F.relu(levels[-1])))
        return levels

    def _bracket(self, scales: Tensor, num_levels: int) -> tuple[Tensor, Tensor, Tensor]:
        """Indices of the levels around each scale and the blend weight of the upper one.

        Args:
            scales (Tensor): ``[...]`` scales, clamped to the levels' range.
            num_levels (int): Number of levels available.

        Returns:
            tuple: lower index, upper index (``[...]`` long) and weight ``[...]`` in [0, 1].
        """
        ls = self.level_scales[:num_levels]
        scales = scales.clamp(ls[0], ls[-1])
        if num_levels == 1:
            zero = torch.zeros_like(scales, dtype=torch.long)
            return zero, zero, torch.zeros_like(scales)
        # searchsorted(ls, scales) as a count (a handful of levels; ONNX has no searchsorted).
        upper = (ls < scales[..., None]).sum(-1).clamp(1, num_levels - 1)
        lower = upper - 1
        weight = (scales - ls[lower]) / (ls[upper] - ls[lower])
        return lower, upper, weight

    def modulation(self, scales: Tensor) -> tuple[Tensor, Tensor]:
        """FiLM parameters of psi(s): ``gamma`` and ``beta``, each ``[..., out_channels]``."""
        film = self.modulation_scale * self.film(self.scale_embed(scales))
        gamma, beta = film.chunk(2, dim=-1)
        return gamma, beta

    # -- the three ways to read the field ----------------------------------------------------

    def _bracket_scalar(self, scale: float, num_levels: int) -> tuple[int, int, float]:
        """:meth:`_bracket` for one Python float (static shapes for tracing and export)."""
        ls = [stride_to_scale(s) for s in self.level_strides[:num_levels]]
        scale = min(max(scale, ls[0]), ls[-1])
        for i in range(num_levels - 1):
            if scale <= ls[i + 1]:
                return i, i + 1, (scale - ls[i]) / (ls[i + 1] - ls[i])
        return num_levels - 1, num_levels - 1, 0.0

    def field_map(self, levels: Sequence[Tensor], scale: float) -> Tensor:
        """Dense F(., ., s) at the resolution of stride(s): ``[B, C, ceil(H/st), ceil(W/st)]``."""
        ref = levels[0]
        img_h, img_w = ref.shape[-2] * self.in_strides[0], ref.shape[-1] * self.in_strides[0]
        stride = scale_to_stride(scale)
        size = (math.ceil(img_h / stride - 1e-6), math.ceil(img_w / stride - 1e-6))
        lower, upper, weight = self._bracket_scalar(scale, len(levels))
        if weight == 1.0:
            lower, weight = upper, 0.0
        blended = _resize(levels[lower], size)
        if weight > 0:
            blended = (1 - weight) * blended + weight * _resize(levels[upper], size)
        gamma, beta = self.modulation(ref.new_tensor(scale))
        return blended * (1 + gamma[:, None, None]) + beta[:, None, None]

    def forward(self, feats: Sequence[Tensor]) -> tuple[Tensor, ...]:
        """FPN-compatible output: one map per scale of ``out_scales``.

        Args:
            feats (Sequence[Tensor]): Backbone maps, ``[B, in_channels[i], H_i, W_i]``.

        Returns:
            tuple[Tensor]: ``[B, out_channels, H_s, W_s]`` for each output scale.
        """
        levels = self.build_levels(feats)
        return tuple(self.field_map(levels, s) for s in self.out_scales)

    def query(self, feats: Sequence[Tensor], scales: Tensor | Sequence[float]) -> Tensor:
        """The field's spatial average at arbitrary scales.

        Args:
            feats (Sequence[Tensor]): Backbone maps, ``[B, in_channels[i], H_i, W_i]``.
            scales (Tensor | Sequence[float]): ``[S]`` scales.

        Returns:
            Tensor: ``[B, S, out_channels]``.
        """
        scales = torch.as_tensor(scales, dtype=feats[0].dtype, device=feats[0].device)
        levels = self.build_levels(feats, max_scale=float(scales.max()))
        means = torch.stack([lvl.mean(dim=(2, 3)) for lvl in levels], dim=1)  # [B, L, C]
        lower, upper, weight = self._bracket(scales, len(levels))
        blended = (1 - weight[:, None]) * means[:, lower] + weight[:, None] * means[:, upper]
        gamma, beta = self.modulation(scales)
        return blended * (1 + gamma) + beta

    def box_scales(self, boxes: Tensor) -> Tensor:
        """Continuous scale of each box from its size: ``[..., 4]`` xyxy -> ``[...]``."""
        wh = (boxes[..., 2:] - boxes[..., :2]).clamp(min=1e-3)
        size = (wh[..., 0] * wh[..., 1]).sqrt()
        s = torch.log2(size / self.box_scale_ref) / 3 + stride_to_scale(self.in_strides[0])
        finest, coarsest = self.level_scales[0], self.level_scales[len(self.in_strides) - 1]
        return s.clamp(float(finest), float(coarsest))

    def sample(self, feats: Sequence[Tensor], boxes: Tensor) -> Tensor:
        """Per-box features, each taken at the box's own continuous scale.

        Args:
            feats (Sequence[Tensor]): Backbone maps, ``[B, in_channels[i], H_i, W_i]``.
            boxes (Tensor): ``[B, N, 4]`` boxes (x1, y1, x2, y2) in input-image pixels.

        Returns:
            Tensor: ``[B, N, out_channels, roi_size, roi_size]``.
        """
        return self.box_sampler(self.build_levels(feats, max_scale=0.0))(boxes)

    def box_sampler(self, levels: Sequence[Tensor]) -> BoxSampler:
        """:meth:`sample` on levels from :meth:`build_levels`, as a function for repeated calls.

        RoI-Align-style sampling (one bilinear sample per bin centre) of the two levels around
        each box's scale, blended by log-stride and FiLM-modulated by psi(s_box): the function of
        :meth:`sample_levels_reference`, computed as one weighted bag of 8 taps (2 levels x 4
        corners) per bin (``embedding_bag``: gather and sum fused) from a channels-last table of
        every level's pixels, built once here. On a CPU that is many times faster than
        ``grid_sample`` on each level, whose NCHW reads stride over the channels.

        Args:
            levels (Sequence[Tensor]): Output of :meth:`build_levels` (``[B, C, H_l, W_l]``,
                finest first).

        Returns:
            Callable: ``boxes [B, N, 4]`` (xyxy, input pixels) ->
            ``[B, N, out_channels, roi_size, roi_size]``.
        """
        levels = list(levels[: len(self.in_strides)])
        batch, channels = levels[0].shape[:2]
        heights = [lvl.shape[-2] for lvl in levels]
        widths = [lvl.shape[-1] for lvl in levels]
        pixels = [h * w for h, w in zip(heights, widths)]
        # [B * P, C]: image-major, then level, then row-major pixels (P pixels per image).
        table = torch.cat([lvl.flatten(2) for lvl in levels], dim=2).transpose(1, 2)
        table = table.reshape(-1, channels).contiguous()  # rows of C contiguous floats
        offsets = [0]
        for count in pixels[:-1]:
            offsets.append(offsets[-1] + count)
        device = levels[0].device
        level_info = torch.stack(
            [
                size_tensor(row, device)
                for row in (self.in_strides[: len(levels)], heights, widths, offsets)
            ]
        )  # [4, L]: stride, H, W, offset (sizes symbolic in an export's trace)

        def sample(boxes: Tensor) -> Tensor:
            if boxes.dim() != 3 or boxes.shape[-1] != 4 or boxes.shape[0] != batch:
                raise ValueError(
                    f'ContinuousScaleField.sample: boxes must be [B={batch}, N, 4],'
                    f' got {tuple(boxes.shape)}'
                )
            n, r = boxes.shape[1], self.roi_size
            scales = self.box_scales(boxes)  # [B, N]
            lower, upper, weight = self._bracket(scales, len(levels))
            level = torch.stack([lower, upper], dim=-1)  # [B, N, 2]
            stride, height, width, offset = level_info[:, level]  # each [B, N, 2]
            frac = (torch.arange(r, device=boxes.device, dtype=boxes.dtype) + 0.5) / r
            xs = boxes[..., 0:1] + frac * (boxes[..., 2:3] - boxes[..., 0:1])  # [B, N, R]
            ys = boxes[..., 1:2] + frac * (boxes[..., 3:4] - boxes[..., 1:2])
            # Pixel coordinates on each level (align_corners=False), clamped as padding='border'.
            x0, x1, wx = _bilinear_taps(xs[:, :, None] / stride[..., None] - 0.5, width)
            y0, y1, wy = _bilinear_taps(ys[:, :, None] / stride[..., None] - 0.5, height)
            base = offset + torch.arange(batch, device=device)[:, None, None] * sum(pixels)
            rows = [(y0, 1 - wy), (y1, wy)]  # [B, N, 2, R(y)] each
            cols = [(x0, 1 - wx), (x1, wx)]  # [B, N, 2, R(x)] each
            index = torch.stack(
                [
                    base[..., None, None] + (yi * width[..., None])[..., :, None] + xi[..., None, :]
                    for yi, _ in rows
                    for xi, _ in cols
                ],
                dim=-1,
            )  # [B, N, 2, R, R, 4]
            blend = torch.stack([1 - weight, weight], dim=-1)  # [B, N, 2]
            taps = torch.stack(
                [wyi[..., :, None] * wxi[..., None, :] for _, wyi in rows for _, wxi in cols],
                dim=-1,
            )
            taps = taps * blend[..., None, None, None]  # [B, N, 2, R, R, 4]
            # One bag of 8 weighted taps per bin: gather and weighted sum in one fused kernel.
            index = index.permute(0, 1, 3, 4, 2, 5).reshape(-1, 8)
            taps = taps.permute(0, 1, 3, 4, 2, 5).reshape(-1, 8).to(table.dtype)
            out = weighted_rows(index, table, taps)
            out = out.view(batch, n, r * r, channels)
            gamma, beta = self.modulation(scales)  # [B, N, C]
            out = torch.addcmul(beta[:, :, None], out, 1 + gamma[:, :, None])  # FiLM, one pass
            # [B, N, C, R, R] as a view of the channels-last result (no copy).
            return out.view(batch, n, r, r, channels).permute(0, 1, 4, 2, 3)

        return sample

    def sample_levels_reference(self, levels: Sequence[Tensor], boxes: Tensor) -> Tensor:
        """Reference of :meth:`box_sampler`: ``grid_sample`` on every level, then the blend.

        Args:
            levels (Sequence[Tensor]): Output of :meth:`build_levels` (``[B, C, H_l, W_l]``,
                finest first).
            boxes (Tensor): ``[B, N, 4]`` boxes (x1, y1, x2, y2) in input-image pixels.

        Returns:
            Tensor: ``[B, N, out_channels, roi_size, roi_size]``.
        """
        levels = levels[: len(self.in_strides)]
        b, n = boxes.shape[:2]
        r = self.roi_size
        scales = self.box_scales(boxes)  # [B, N]
        lower, upper, weight = self._bracket(scales, len(levels))
        grid_frac = (torch.arange(r, device=boxes.device, dtype=boxes.dtype) + 0.5) / r
        xs = boxes[..., 0:1] + grid_frac * (boxes[..., 2:3] - boxes[..., 0:1])  # [B, N, R]
        ys = boxes[..., 1:2] + grid_frac * (boxes[..., 3:4] - boxes[..., 1:2])
        out = boxes.new_zeros(b, n, self.out_channels, r, r)
        for index, (level, stride) in enumerate(zip(levels, self.in_strides)):
            w_level = torch.where(lower == index, 1 - weight, boxes.new_zeros(())) + torch.where(
                upper == index, weight, boxes.new_zeros(())
            )
            h_l, w_l = level.shape[-2:]
            gx = 2 * xs / (stride * w_l) - 1  # align_corners=False: -1/+1 are the outer edges
            gy = 2 * ys / (stride * h_l) - 1
            grid = torch.stack(
                torch.broadcast_tensors(gx[:, :, None, :], gy[:, :, :, None]), dim=-1
            )  # [B, N, R(y), R(x), 2]
            sampled = F.grid_sample(
                level,
                grid.view(b, n * r, r, 2),
                mode='bilinear',
                padding_mode='border',
                align_corners=False,
            )
            sampled = sampled.view(b, -1, n, r, r).permute(0, 2, 1, 3, 4)  # [B, N, C, R, R]
            out = out + w_level[..., None, None, None] * sampled
        gamma, beta = self.modulation(scales)
        return out * (1 + gamma[..., None, None]) + beta[..., None, None]


def weighted_rows(index: Tensor, table: Tensor, weights: Tensor) -> Tensor:
    """Rows of ``table [P, C]`` picked by ``index [M, T]``, weighted and summed: ``[M, C]``.

    ``F.embedding_bag`` fuses the gather and the sum (the ONNX export swaps it for a gather and a
    sum: its own export is a loop over the M bags).
    """
    return F.embedding_bag(index, table, per_sample_weights=weights, mode='sum')


def _bilinear_taps(coords: Tensor, size: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Neighbouring indices and the upper one's weight of coordinates clamped to [0, size - 1].

    Args:
        coords (Tensor): ``[..., R]`` pixel coordinates (pixel centres at integers).
        size (Tensor): ``[...]`` number of pixels along the axis.

    Returns:
        tuple: lower and upper indices (``[..., R]`` long) and the upper index's weight
        ``[..., R]``.
    """
    limit = (size - 1)[..., None]
    coords = torch.minimum(coords.clamp(min=0), limit.to(coords.dtype))
    lower = coords.floor()
    index = lower.long()
    return index, torch.minimum(index + 1, limit), coords - lower


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode='bilinear', align_corners=False)
