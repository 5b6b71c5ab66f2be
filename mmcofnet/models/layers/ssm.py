"""Per-direction selective-scan parameters and the gated mixer shared by SS2D and MambaBlock."""

import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmdet.utils import OptConfigType
from torch import Tensor, nn

from mmcofnet.models.ops import selective_scan


def resolve_dt_rank(dt_rank: Union[int, str], d_model: int) -> int:
    """Rank of the low-rank step-size projection; ``'auto'`` is Mamba's ``ceil(d_model / 16)``."""
    if dt_rank == 'auto':
        return math.ceil(d_model / 16)
    return int(dt_rank)


def init_dt_bias(
    d_inner: int, dt_min: float = 0.001, dt_max: float = 0.1, dt_init_floor: float = 1e-4
) -> Tensor:
    """Bias of the step-size projection, Mamba's initialisation.

    Step sizes are drawn log-uniformly from ``[dt_min, dt_max]`` so that channels start with a
    spread of memory lengths; the bias stores their softplus inverse because the scan applies
    softplus to ``delta + bias``.

    Returns:
        Tensor: ``[d_inner]``.
    """
    log_dt = torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
    dt = torch.exp(log_dt).clamp(min=dt_init_floor)
    return dt + torch.log(-torch.expm1(-dt))


def init_A_log(d_inner: int, d_state: int) -> Tensor:
    """S4D-real initialisation, ``A = -[1, 2, ..., N]`` per channel, stored as ``log(-A)``.

    Returns:
        Tensor: ``[d_inner, d_state]``.
    """
    A = torch.arange(1, d_state + 1, dtype=torch.float32)
    return torch.log(A).repeat(d_inner, 1)


class DirectionalSSM(nn.Module):
    """Selective-scan parameters for ``K`` scan directions, applied in one grouped scan call.

    Every direction has its own input-dependent projections (``x -> (dt, B, C)``), step-size
    projection, ``A`` and ``D``, as in VMamba's SS2D. The directions are stacked on the channel axis
    (``K * d_inner`` channels with ``K`` groups of ``B``/``C``), so one ``selective_scan`` call
    scans all of them: one kernel launch, and the fast kernels parallelise over all channels.

    Parameter names and layouts follow VMamba (``x_proj_weight``, ``dt_projs_weight``,
    ``dt_projs_bias``, ``A_logs``, ``Ds``), so its checkpoints load without reshaping.

    Args:
        d_inner (int): Channels per direction.
        num_directions (int): Number of scan directions ``K``.
        d_state (int): SSM state size ``N``.
        dt_rank (int): Rank of the step-size projection ``R``.
        dt_min (float): Smallest initial step size.
        dt_max (float): Largest initial step size.
        dt_init_floor (float): Lower clamp of the initial step sizes.
        dt_scale (float): Scale of the step-size projection's initial weights.
    """

    def __init__(
        self,
        d_inner: int,
        num_directions: int,
        d_state: int = 16,
        dt_rank: int = 1,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        dt_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.d_inner = d_inner
        self.num_directions = num_directions
        self.d_state = d_state
        self.dt_rank = dt_rank
        K = num_directions

        # nn.Linear's default initialisation of the per-direction x -> (dt, B, C) projections.
        bound = d_inner**-0.5
        self.x_proj_weight = nn.Parameter(
            torch.empty(K, dt_rank + 2 * d_state, d_inner).uniform_(-bound, bound)
        )
        dt_std = dt_rank**-0.5 * dt_scale
        self.dt_projs_weight = nn.Parameter(
            torch.empty(K, d_inner, dt_rank).uniform_(-dt_std, dt_std)
        )
        self.dt_projs_bias = nn.Parameter(
            torch.stack([init_dt_bias(d_inner, dt_min, dt_max, dt_init_floor) for _ in range(K)])
        )
        self.A_logs = nn.Parameter(init_A_log(d_inner, d_state).repeat(K, 1))
        self.Ds = nn.Parameter(torch.ones(K * d_inner))
        # Optimisers with weight decay should leave these alone (Mamba marks them the same way).
        for param in (self.A_logs, self.Ds):
            param._no_weight_decay = True

    def forward(self, xs: Tensor) -> Tensor:
        """Scan every direction's sequence.

        Args:
            xs (Tensor): Sequences, ``[B, K, d_inner, L]``.

        Returns:
            Tensor: Scan outputs, ``[B, K * d_inner, L]``; channels ``k * d_inner:(k + 1) *
            d_inner`` belong to direction ``k``.
        """
        b, K, d, L = xs.shape
        N, R = self.d_state, self.dt_rank
        # Batched matmuls apply each direction's own projections in one call (a grouped 1x1
        # conv1d does the same but is 2-3x slower on CPU).
        x_dbl = torch.matmul(self.x_proj_weight, xs)
        dts, Bs, Cs = torch.split(x_dbl, [R, N, N], dim=2)
        dts = torch.matmul(self.dt_projs_weight, dts)
        return selective_scan(
            xs.reshape(b, K * d, L),
            dts.view(b, K * d, L),
            -torch.exp(self.A_logs.float()),
            Bs,
            Cs,
            D=self.Ds.float(),
            delta_bias=self.dt_projs_bias.reshape(-1).float(),
            delta_softplus=True,
        )

    def extra_repr(self) -> str:
        return (
            f'd_inner={self.d_inner}, num_directions={self.num_directions}, '
            f'd_state={self.d_state}, dt_rank={self.dt_rank}'
        )


class GatedScanMixer(nn.Module):
    """The mixer SS2D and MambaBlock share: ``in_proj -> (x, z)``, scans, norm, gate, ``out_proj``.

    Subclasses build the conv before their scans in :meth:`build_conv` and write ``forward``
    with :meth:`project_in` and :meth:`project_out`. Modules are created in the order
    ``in_proj``, conv, ``ssm``, ``out_norm``, ``out_proj`` (a seed gives the same weights as
    before this class existed).

    Args:
        dim (int): Input and output channels ``C``.
        num_directions (int): Scan directions ``K`` of the :class:`DirectionalSSM`.
        d_state (int): SSM state size ``N``.
        ssm_ratio (float): Scan channels per direction as a multiple of ``dim``.
        dt_rank (int | str): Rank of the step-size projection, ``'auto'`` = ``ceil(dim / 16)``.
        d_conv (int): Kernel size of the conv.
        with_gate (bool): Gate the output with ``silu(z)`` from a second in-projection half.
        conv_bias (bool): Bias in the conv.
        norm_cfg (dict, optional): Config of the output norm. Default: ``dict(type='LN')``.
    """

    def __init__(
        self,
        dim: int,
        num_directions: int,
        d_state: int,
        ssm_ratio: float,
        dt_rank: Union[int, str],
        d_conv: int,
        with_gate: bool,
        conv_bias: bool,
        norm_cfg: OptConfigType = None,
    ) -> None:
        super().__init__()
        norm_cfg = norm_cfg or dict(type='LN')
        d_inner = int(ssm_ratio * dim)
        self.d_inner = d_inner
        self.with_gate = with_gate
        self.in_proj = nn.Linear(dim, d_inner * 2 if with_gate else d_inner, bias=False)
        self.build_conv(d_inner, d_conv, conv_bias)
        self.ssm = DirectionalSSM(
            d_inner, num_directions, d_state=d_state, dt_rank=resolve_dt_rank(dt_rank, dim)
        )
        self.out_norm = build_norm_layer(norm_cfg, d_inner)[1]
        self.out_proj = nn.Linear(d_inner, dim, bias=False)

    def build_conv(self, d_inner: int, d_conv: int, conv_bias: bool) -> None:
        """Creates the conv that runs before the scans (an attribute of the subclass's name)."""
        raise NotImplementedError

    def project_in(self, x: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """``[..., C]`` -> the scans' input ``[..., d_inner]`` and the gate ``z`` (or None)."""
        x = self.in_proj(x)
        return x.chunk(2, dim=-1) if self.with_gate else (x, None)

    def project_out(self, y: Tensor, z: Optional[Tensor]) -> Tensor:
        """Merged scans ``[..., d_inner]`` -> ``out_proj(out_norm(y) * silu(z))`` ``[..., C]``."""
        y = self.out_norm(y)
        if z is not None:
            y = F.silu(z).mul_(y)  # in place on a fresh tensor: one map less to allocate
        return self.out_proj(y)
