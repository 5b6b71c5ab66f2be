"""Vim-style bidirectional 1D Mamba mixer over a flattened feature map, and its causal conv1d."""

from typing import Optional, Union

import torch
import torch.nn.functional as F
from mmdet.utils import OptConfigType
from torch import Tensor, nn

from .ssm import GatedScanMixer

try:  # Optional CUDA kernel (DESIGN: never required to import the package).
    from causal_conv1d import causal_conv1d_fn
except (ImportError, OSError):
    causal_conv1d_fn = None


def causal_conv1d(
    x: Tensor, weight: Tensor, bias: Optional[Tensor] = None, activation: Optional[str] = None
) -> Tensor:
    """Depthwise causal conv1d: output ``t`` sees inputs ``t - k + 1 .. t`` only.

    Uses causal-conv1d's CUDA kernel when it imports and ``x`` is on CUDA, else ``F.conv1d`` on
    the input padded with ``k - 1`` zeros on the left.

    Args:
        x (Tensor): ``[B, D, L]``.
        weight (Tensor): ``[D, k]``.
        bias (Tensor, optional): ``[D]``.
        activation (str, optional): ``None`` or ``'silu'`` (fused in the CUDA kernel).

    Returns:
        Tensor: ``[B, D, L]``.
    """
    if activation not in (None, 'silu', 'swish'):
        raise ValueError(f"activation must be None or 'silu', got {activation!r}")
    if causal_conv1d_fn is not None and x.is_cuda:
        return causal_conv1d_fn(x, weight, bias, activation=activation)
    kernel_size = weight.shape[-1]
    out = F.conv1d(F.pad(x, (kernel_size - 1, 0)), weight.unsqueeze(1), bias, groups=x.shape[1])
    return F.silu(out, inplace=True) if activation is not None else out


class MambaBlock(GatedScanMixer):
    """Bidirectional Mamba mixer (Vim) on the row-major flattened map.

    ``in_proj -> (x, z)``; ``x`` and its reverse each go through their own causal depthwise
    conv1d, SiLU and selective scan (one grouped scan call for both); the backward result is
    flipped back, the two are summed, normed, gated with ``silu(z)`` and projected out. The 1D
    counterpart of :class:`SS2D` with the same ``[B, H, W, C]`` interface, selected by
    ``block_type='mamba'`` in :class:`MambaBackbone`.

    Args:
        dim (int): Input and output channels ``C``.
        d_state (int): SSM state size ``N``. Default: 16.
        ssm_ratio (float): Scan channels per direction as a multiple of ``dim`` (Mamba's
            ``expand``). Default: 2.0.
        dt_rank (int | str): Rank of the step-size projection, ``'auto'`` = ``ceil(dim / 16)``.
        d_conv (int): Kernel size of the causal conv1d. Default: 4.
        with_gate (bool): Gate the output with ``silu(z)``. Default: True.
        conv_bias (bool): Bias in the causal conv1d. Default: True.
        norm_cfg (dict, optional): Config of the output norm. Default: ``dict(type='LN')``.
    """

    num_directions = 2

    def __init__(
        self,
        dim: int,
        d_state: int = 16,
        ssm_ratio: float = 2.0,
        dt_rank: Union[int, str] = 'auto',
        d_conv: int = 4,
        with_gate: bool = True,
        conv_bias: bool = True,
        norm_cfg: OptConfigType = None,
    ) -> None:
        super().__init__(
            dim,
            self.num_directions,
            d_state,
            ssm_ratio,
            dt_rank,
            d_conv,
            with_gate,
            conv_bias,
            norm_cfg,
        )

    def build_conv(self, d_inner: int, d_conv: int, conv_bias: bool) -> None:
        # One depthwise conv for both directions: channels [0, d_inner) forward, the rest backward.
        self.conv1d = nn.Conv1d(
            self.num_directions * d_inner,
            self.num_directions * d_inner,
            kernel_size=d_conv,
            groups=self.num_directions * d_inner,
            bias=conv_bias,
        )

    def forward(self, x: Tensor) -> Tensor:
        """Mix tokens of a channels-last map.

        Args:
            x (Tensor): ``[B, H, W, C]``.

        Returns:
            Tensor: ``[B, H, W, C]``.
        """
        b, h, w, _ = x.shape
        x, z = self.project_in(x.flatten(1, 2))
        x = x.transpose(1, 2)
        xs = torch.stack([x, x.flip(-1)], dim=1).flatten(1, 2)
        xs = causal_conv1d(xs, self.conv1d.weight.squeeze(1), self.conv1d.bias, activation='silu')
        ys = self.ssm(xs.view(b, self.num_directions, self.d_inner, -1))
        ys = ys.view(b, self.num_directions, self.d_inner, -1)
        # No 1/2 for the average: the LayerNorm right after is scale invariant.
        y = (ys[:, 0] + ys[:, 1].flip(-1)).transpose(1, 2)
        return self.project_out(y, z).view(b, h, w, -1)
