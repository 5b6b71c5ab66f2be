"""VMamba's 2D selective-scan mixer (SS2D) and the residual VSS block built around a mixer."""

from typing import Optional, Union

import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmdet.utils import OptConfigType
from torch import Tensor, nn

from mmcofnet.models.ops.cross_scan import NUM_DIRECTIONS, cross_merge, cross_scan

from .mamba_block import MambaBlock
from .ssm import GatedScanMixer


class SS2D(GatedScanMixer):
    """2D selective scan (VMamba): a global, linear-time token mixer for feature maps.

    ``in_proj -> (x, z)``; ``x -> depthwise conv -> SiLU -> scan in 4 orders -> merge ->
    out_norm``; ``* silu(z)``; ``out_proj``. The four directions go through one grouped selective
    scan call (see :class:`DirectionalSSM`).

    Module and parameter names follow VMamba's ``SS2D`` (``in_proj``, ``conv2d``, ``out_norm``,
    ``out_proj``; SSM parameters under ``ssm``) so that its checkpoints convert by renaming.

    Args:
        dim (int): Input and output channels ``C``.
        d_state (int): SSM state size ``N``. Default: 16.
        ssm_ratio (float): Scan channels per direction as a multiple of ``dim``. Default: 2.0.
        dt_rank (int | str): Rank of the step-size projection, ``'auto'`` = ``ceil(dim / 16)``.
        d_conv (int): Kernel size of the depthwise conv before the scan. Default: 3.
        with_gate (bool): Gate the output with ``silu(z)`` from a second in-projection half.
            ``False`` is VMamba v2's ``noz`` variant: a cheaper in-projection. Default: True.
        conv_bias (bool): Bias in the depthwise conv. Default: True.
        norm_cfg (dict, optional): Config of the output norm (channels-last). Default:
            ``dict(type='LN')``.
    """

    def __init__(
        self,
        dim: int,
        d_state: int = 16,
        ssm_ratio: float = 2.0,
        dt_rank: Union[int, str] = 'auto',
        d_conv: int = 3,
        with_gate: bool = True,
        conv_bias: bool = True,
        norm_cfg: OptConfigType = None,
    ) -> None:
        super().__init__(
            dim, NUM_DIRECTIONS, d_state, ssm_ratio, dt_rank, d_conv, with_gate, conv_bias, norm_cfg
        )

    def build_conv(self, d_inner: int, d_conv: int, conv_bias: bool) -> None:
        self.conv2d = nn.Conv2d(
            d_inner,
            d_inner,
            kernel_size=d_conv,
            padding=(d_conv - 1) // 2,
            groups=d_inner,
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
        x, z = self.project_in(x)
        # Depthwise conv on a channels-last view: oneDNN's channels-last depthwise kernel is
        # several times faster on CPU than the NCHW one (and no transposing copy is needed).
        x = F.silu(self.conv2d(x.permute(0, 3, 1, 2)), inplace=True)
        ys = self.ssm(cross_scan(x))
        y = cross_merge(ys.view(b, NUM_DIRECTIONS, self.d_inner, h, w), channels_last=True)
        return self.project_out(y, z)


class SepConvMixer(nn.Module):
    """Separable-conv token mixer (MetaFormer's ConvFormer): ``pw -> act -> dw kxk -> pw``.

    A local mixer for the high-resolution stages of a hybrid backbone (as MambaVision's and
    ConvFormer's first stages): the selective scans cost most where the maps are largest, and a
    feature of an object a few pixels wide is local there anyway.

    Args:
        dim (int): Input and output channels ``C``.
        expand_ratio (float): Channels of the depthwise conv as a multiple of ``dim``. Default: 2.
        kernel_size (int): Kernel of the depthwise conv. Default: 7.
        act_cfg (dict, optional): Activation config. Default: ``dict(type='GELU')``.
    """

    def __init__(
        self,
        dim: int,
        expand_ratio: float = 2.0,
        kernel_size: int = 7,
        act_cfg: OptConfigType = None,
    ) -> None:
        super().__init__()
        hidden = int(dim * expand_ratio)
        self.pwconv1 = nn.Linear(dim, hidden)
        self.act = build_activation_layer(act_cfg or dict(type='GELU'))
        self.dwconv = nn.Conv2d(
            hidden, hidden, kernel_size, padding=kernel_size // 2, groups=hidden
        )
        self.pwconv2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, H, W, C] -> [B, H, W, C]`` (channels-last)."""
        x = self.act(self.pwconv1(x))
        # The permuted view is channels-last NCHW: oneDNN's fast depthwise path, no copy.
        return self.pwconv2(self.dwconv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))


class ChannelMLP(nn.Module):
    """Per-token MLP, optionally gated (``fc2(x * act(gate))``, VMamba's ``gMlp``).

    Args:
        dim (int): Input and output channels.
        hidden_dim (int): Hidden channels.
        gated (bool): Split ``fc1``'s output into value and gate halves. Default: True.
        act_cfg (dict, optional): Activation config. Default: ``dict(type='GELU')``.
    """

    def __init__(
        self, dim: int, hidden_dim: int, gated: bool = True, act_cfg: OptConfigType = None
    ) -> None:
        super().__init__()
        act_cfg = act_cfg or dict(type='GELU')
        self.gated = gated
        self.fc1 = nn.Linear(dim, hidden_dim * 2 if gated else hidden_dim)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        """``[..., C] -> [..., C]``."""
        x = self.fc1(x)
        if self.gated:
            x, gate = x.chunk(2, dim=-1)
            x = self.act(gate).mul_(x)  # in place on a fresh tensor: one map less to allocate
        else:
            x = self.act(x)
        return self.fc2(x)


class VSSBlock(nn.Module):
    """Pre-norm residual block: ``x + mixer(norm1(x))``, then ``x + mlp(norm2(x))``.

    Args:
        dim (int): Channels ``C``.
        mixer_type (str): ``'ss2d'`` (VMamba's 4-direction 2D scan, :class:`SS2D`),
            ``'mamba'`` (Vim's bidirectional 1D scan over the row-major flattened map,
            :class:`MambaBlock`) or ``'conv'`` (a separable conv, :class:`SepConvMixer`; the scan
            options are then unused). Default: ``'ss2d'``.
        d_state (int): SSM state size. Default: 16.
        ssm_ratio (float): Scan channels per direction as a multiple of ``dim``. Default: 1.0
            (VMamba v2's choice; 2.0 doubles the scan work).
        dt_rank (int | str): Rank of the step-size projection. Default: ``'auto'``.
        d_conv (int, optional): Kernel of the mixer's depthwise conv; None picks the mixer's
            default (3x3 for SS2D, 4 for the causal conv1d of the Mamba mixer).
        with_gate (bool): Gate the mixer output with ``silu(z)``. Default: True.
        mlp_ratio (float): MLP hidden channels as a multiple of ``dim``; ``0`` drops the MLP
            (VMamba v1). Default: 2.0 (gated: about the cost of a plain MLP of ratio 3).
        gated_mlp (bool): Gated MLP (``fc1`` to twice the hidden width, split into value and
            gate). Default: True.
        drop_path (float): Stochastic depth rate of both residual branches. Default: 0.
        norm_cfg (dict, optional): Norm config (channels-last). Default: ``dict(type='LN')``.
        act_cfg (dict, optional): MLP activation config. Default: ``dict(type='GELU')``.
        with_cp (bool): Recompute the block in backward (gradient checkpointing) to save memory.
    """

    def __init__(
        self,
        dim: int,
        mixer_type: str = 'ss2d',
        d_state: int = 16,
        ssm_ratio: float = 1.0,
        dt_rank: Union[int, str] = 'auto',
        d_conv: Optional[int] = None,
        with_gate: bool = True,
        mlp_ratio: float = 2.0,
        gated_mlp: bool = True,
        drop_path: float = 0.0,
        norm_cfg: OptConfigType = None,
        act_cfg: OptConfigType = None,
        with_cp: bool = False,
    ) -> None:
        super().__init__()
        norm_cfg = norm_cfg or dict(type='LN')
        act_cfg = act_cfg or dict(type='GELU')
        self.with_cp = with_cp
        mixer_kwargs = dict(
            d_state=d_state,
            ssm_ratio=ssm_ratio,
            dt_rank=dt_rank,
            with_gate=with_gate,
            norm_cfg=norm_cfg,
        )
        if d_conv is not None:
            mixer_kwargs['d_conv'] = d_conv
        self.norm1 = build_norm_layer(norm_cfg, dim)[1]
        if mixer_type == 'ss2d':
            self.mixer = SS2D(dim, **mixer_kwargs)
        elif mixer_type == 'mamba':
            self.mixer = MambaBlock(dim, **mixer_kwargs)
        elif mixer_type == 'conv':
            self.mixer = SepConvMixer(dim, act_cfg=act_cfg)
        else:
            raise ValueError(f"mixer_type must be 'ss2d', 'mamba' or 'conv', got {mixer_type!r}")
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.with_mlp = mlp_ratio > 0
        if self.with_mlp:
            self.norm2 = build_norm_layer(norm_cfg, dim)[1]
            self.mlp = ChannelMLP(dim, int(dim * mlp_ratio), gated=gated_mlp, act_cfg=act_cfg)

    def _inner_forward(self, x: Tensor) -> Tensor:
        # Residual adds in place on the branch output, a fresh tensor that no backward needs
        # (the input x is left untouched): one map less to allocate per branch.
        x = self.drop_path(self.mixer(self.norm1(x))).add_(x)
        if self.with_mlp:
            x = self.drop_path(self.mlp(self.norm2(x))).add_(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block (recomputed in backward with ``with_cp``).

        Args:
            x (Tensor): Channels-last map ``[B, H, W, C]``.

        Returns:
            Tensor: ``[B, H, W, C]``.
        """
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        return self._inner_forward(x)
