"""Sequential reference of the selective scan (mamba-ssm's ``selective_scan_ref``).

A plain Python loop over the sequence. It is slow (one small kernel launch per step) and exists only
so that tests and ``tools/analysis_tools/benchmark_scan.py`` have an obviously correct baseline for
the fast paths in :mod:`mmcofnet.models.ops.selective_scan`.
"""

from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor


def _expand_groups(BC: Tensor, dim: int) -> Tensor:
    """Repeat grouped ``[batch, G, N, L]`` B/C to one copy per channel, ``[batch, dim, N, L]``.

    Channels are split into ``G`` contiguous blocks of ``dim // G`` (einops ``(G H)`` order), the
    layout mamba-ssm and VMamba use.
    """
    return BC.repeat_interleave(dim // BC.shape[1], dim=1)


def selective_scan_ref(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional[Tensor] = None,
    z: Optional[Tensor] = None,
    delta_bias: Optional[Tensor] = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Selective scan, one time step at a time: the reference every fast path is tested against.

    Same arguments and recurrence as :func:`mmcofnet.models.ops.selective_scan` (mamba-ssm's
    ``selective_scan_ref``), without the backend choice.

    Returns:
        Tensor | tuple[Tensor, Tensor]: ``out`` ``[batch, dim, L]`` in ``u``'s dtype and, if
        ``return_last_state``, the final state ``[batch, dim, N]`` (float32 or float64).
    """
    dtype_in = u.dtype
    # Half/bfloat16 inputs accumulate in float32, as mamba-ssm does.
    compute_dtype = torch.float64 if u.dtype == torch.float64 else torch.float32
    u = u.to(compute_dtype)
    delta = delta.to(compute_dtype)
    A = A.to(compute_dtype)
    B = B.to(compute_dtype)
    C = C.to(compute_dtype)
    if delta_bias is not None:
        delta = delta + delta_bias[..., None].to(compute_dtype)
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, length = u.shape
    is_variable_B = B.dim() >= 3
    is_variable_C = C.dim() >= 3

    delta_A = torch.exp(torch.einsum('bdl,dn->bdln', delta, A))
    if not is_variable_B:
        delta_B_u = torch.einsum('bdl,dn,bdl->bdln', delta, B, u)
    elif B.dim() == 3:
        delta_B_u = torch.einsum('bdl,bnl,bdl->bdln', delta, B, u)
    else:
        delta_B_u = torch.einsum('bdl,bdnl,bdl->bdln', delta, _expand_groups(B, dim), u)
    if is_variable_C and C.dim() == 4:
        C = _expand_groups(C, dim)

    # unbind() rather than indexing per step: the backward of `t[:, :, i]` materialises a zero
    # tensor of the full size at every step (O(L^2) for the whole loop), unbind's is one stack.
    delta_A_steps = delta_A.unbind(dim=2)
    delta_B_u_steps = delta_B_u.unbind(dim=2)
    C_steps = C.unbind(dim=-1) if is_variable_C else None
    x = u.new_zeros((batch, dim, A.shape[1]))
    ys = []
    for t in range(length):
        x = delta_A_steps[t] * x + delta_B_u_steps[t]
        if not is_variable_C:
            y = torch.einsum('bdn,dn->bd', x, C)
        elif C.dim() == 3:
            y = torch.einsum('bdn,bn->bd', x, C_steps[t])
        else:
            y = torch.einsum('bdn,bdn->bd', x, C_steps[t])
        ys.append(y)
    out = torch.stack(ys, dim=2)
    if D is not None:
        out = out + u * D.to(compute_dtype)[:, None]
    if z is not None:
        out = out * F.silu(z.to(compute_dtype))
    out = out.to(dtype_in)
    return (out, x) if return_last_state else out
