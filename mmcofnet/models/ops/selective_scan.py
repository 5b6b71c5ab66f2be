"""Selective scan (S6) with mamba-ssm's ``selective_scan_fn`` semantics, forward and backward.

Backends, chosen per call by :func:`selective_scan_backend` unless ``backend=`` forces one:

* ``'cuda'``: mamba-ssm's fused CUDA kernel (CUDA tensors, mamba-ssm importable, no float64).
* ``'cpu'``: this package's C++ kernel (``csrc/selective_scan_cpu.cpp``), compiled with
  ``torch.utils.cpp_extension.load`` on first use and cached in the torch extensions directory.
* ``'torch'``: a pure-torch two-level chunked scan, any device; the fallback when the C++ kernel
  cannot be built (a warning is issued once) and when CUDA tensors meet no mamba-ssm.
* ``'ref'``: the sequential reference, :func:`selective_scan_ref`.

While a model is being traced or exported to ONNX, ``'auto'`` picks ``'torch'``: the compiled
kernels are opaque to tracing.

All backends return the input dtype and accumulate in float32 (float64 for float64 inputs).
"""

import math
import os
import os.path as osp
import shutil
import sys
import threading
import warnings
from types import ModuleType
from typing import Callable, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .chunked_scan import ChunkLayout, scan_chunks
from .selective_scan_ref import selective_scan_ref

BACKENDS = ('auto', 'cuda', 'cpu', 'torch', 'ref')
_CSRC = osp.join(osp.dirname(osp.abspath(__file__)), 'csrc', 'selective_scan_cpu.cpp')

# Vector ISA flags per torch CPU capability. The capability is part of the extension name, so
# machines that share a torch extensions directory never load a build for another instruction set.
_ISA_FLAGS = {
    'AVX512': [
        '-mavx2',
        '-mfma',
        '-mavx512f',
        '-mavx512bw',
        '-mavx512dq',
        '-mavx512vl',
        '-mprefer-vector-width=512',
    ],
    'AVX2': ['-mavx2', '-mfma'],
}

ScanOutput = Union[Tensor, Tuple[Tensor, Tensor]]


# --------------------------------------------------------------------------------------------
# Argument checking
# --------------------------------------------------------------------------------------------
def _shape(t: Optional[Tensor]) -> Optional[Tuple[int, ...]]:
    return None if t is None else tuple(t.shape)


def _check_bc(name: str, t: Tensor, batch: int, dim: int, dstate: int, length: int) -> None:
    """Check that B or C is ``[dim, N]``, ``[batch, N, L]`` or ``[batch, G, N, L]``."""
    expected = (
        f'[dim, N]={(dim, dstate)}, [batch, N, L]={(batch, dstate, length)} or '
        f'[batch, G, N, L]=({batch}, G, {dstate}, {length}) with dim % G == 0'
    )
    ok = (
        (t.dim() == 2 and tuple(t.shape) == (dim, dstate))
        or (t.dim() == 3 and tuple(t.shape) == (batch, dstate, length))
        or (
            t.dim() == 4
            and t.shape[0] == batch
            and tuple(t.shape[2:]) == (dstate, length)
            and t.shape[1] > 0
            and dim % t.shape[1] == 0
        )
    )
    if not ok:
        raise ValueError(
            f'selective_scan: {name} has shape {_shape(t)}, expected {expected} '
            f'(u is {(batch, dim, length)}, A is {(dim, dstate)})'
        )
    if t.is_complex():
        raise ValueError(f'selective_scan: complex {name} is not supported')


def _check_inputs(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional[Tensor],
    z: Optional[Tensor],
    delta_bias: Optional[Tensor],
) -> None:
    """Raise ``ValueError`` naming the offending argument and the shapes involved."""
    if u.dim() != 3 or u.shape[2] == 0:
        raise ValueError(
            f'selective_scan: u must be [batch, dim, L] with L >= 1, got shape {_shape(u)}'
        )
    batch, dim, length = u.shape
    if delta.shape != u.shape:
        raise ValueError(
            f"selective_scan: delta has shape {_shape(delta)}, expected u's shape "
            f'{_shape(u)} [batch, dim, L]'
        )
    if A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(
            f'selective_scan: A has shape {_shape(A)}, expected [dim, N] with '
            f'dim={dim} (u is {_shape(u)})'
        )
    if A.is_complex():
        raise ValueError('selective_scan: complex A is not supported, A must be real')
    dstate = A.shape[1]
    _check_bc('B', B, batch, dim, dstate, length)
    _check_bc('C', C, batch, dim, dstate, length)
    for name, t in (('D', D), ('delta_bias', delta_bias)):
        if t is not None and tuple(t.shape) != (dim,):
            raise ValueError(
                f'selective_scan: {name} has shape {_shape(t)}, expected '
                f'[dim]=({dim},) (u is {_shape(u)})'
            )
    if z is not None and z.shape != u.shape:
        raise ValueError(
            f"selective_scan: z has shape {_shape(z)}, expected u's shape "
            f'{_shape(u)} [batch, dim, L]'
        )


# --------------------------------------------------------------------------------------------
# Backend availability
# --------------------------------------------------------------------------------------------
_extension: Optional[ModuleType] = None
_extension_error: Optional[BaseException] = None
_extension_lock = threading.Lock()
_mamba_scan_fn: Optional[Callable] = None
_mamba_checked = False


def _put_venv_ninja_on_path() -> None:
    """Let torch find pip's ninja, which sits next to the interpreter of a non-activated venv."""
    bin_dir = osp.dirname(sys.executable)
    if shutil.which('ninja') is None and shutil.which('ninja', path=bin_dir) is not None:
        os.environ['PATH'] = bin_dir + os.pathsep + os.environ.get('PATH', '')


def _load_cpu_extension() -> Optional[ModuleType]:
    """Build (first time on a machine) or load the C++ kernel; ``None`` if that fails.

    A failure is reported once with a warning; later calls fall back to the torch path silently.
    """
    global _extension, _extension_error
    if _extension is not None or _extension_error is not None:
        return _extension
    with _extension_lock:
        if _extension is not None or _extension_error is not None:
            return _extension
        try:
            from torch.utils.cpp_extension import load

            _put_venv_ninja_on_path()
            capability = torch.backends.cpu.get_cpu_capability()
            # -fno-trapping-math lets the compiler if-convert the clamps in the vector exp()
            # (no -ffast-math: the exp relies on exact float rounding).
            flags = ['-O3', '-fopenmp', '-fno-trapping-math'] + _ISA_FLAGS.get(capability, [])
            _extension = load(
                name=f'mmcofnet_selective_scan_{capability.lower()}',
                sources=[_CSRC],
                extra_cflags=flags,
                extra_ldflags=['-fopenmp'],
                verbose=False,
            )
        except Exception as error:  # noqa: BLE001 - any build failure means "use the fallback"
            _extension_error = error
            warnings.warn(
                'mmcofnet: could not build the C++ selective-scan kernel, falling back to the '
                f'slower pure-torch scan. Cause: {type(error).__name__}: {error}',
                RuntimeWarning,
                stacklevel=3,
            )
    return _extension


def _load_mamba_scan_fn() -> Optional[Callable]:
    """mamba-ssm's ``selective_scan_fn`` if the package imports, else ``None``."""
    global _mamba_scan_fn, _mamba_checked
    if not _mamba_checked:
        _mamba_checked = True
        try:
            from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

            _mamba_scan_fn = selective_scan_fn
        except Exception:  # noqa: BLE001 - missing or broken optional extra
            _mamba_scan_fn = None
    return _mamba_scan_fn


def selective_scan_backend(
    device: Union[str, torch.device] = 'cpu', dtype: torch.dtype = torch.float32
) -> str:
    """Name the backend that ``backend='auto'`` uses for tensors on ``device`` with ``dtype``.

    Args:
        device (str | torch.device): Device of the inputs.
        dtype (torch.dtype): Dtype of ``u``.

    Returns:
        str: One of ``'cuda'``, ``'cpu'``, ``'torch'``.
    """
    device = torch.device(device)
    if device.type == 'cuda':
        # mamba-ssm's kernel has no float64 instantiation.
        if dtype != torch.float64 and _load_mamba_scan_fn() is not None:
            return 'cuda'
        return 'torch'
    if device.type == 'cpu' and _load_cpu_extension() is not None:
        return 'cpu'
    return 'torch'


def _resolve_backend(backend: str, u: Tensor) -> str:
    if backend not in BACKENDS:
        raise ValueError(f'selective_scan: backend must be one of {BACKENDS}, got {backend!r}')
    if backend == 'auto':
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            # Export (mmdeploy, ONNX) records tensor ops; the compiled kernels are opaque to it.
            return 'torch'
        return selective_scan_backend(u.device, u.dtype)
    if backend == 'cuda' and (
        not u.is_cuda or u.dtype == torch.float64 or _load_mamba_scan_fn() is None
    ):
        raise RuntimeError(
            'selective_scan: backend="cuda" needs CUDA tensors (not float64) and mamba-ssm'
        )
    if backend == 'cpu':
        if u.device.type != 'cpu':
            raise RuntimeError(f'selective_scan: backend="cpu" needs CPU tensors, got {u.device}')
        if _load_cpu_extension() is None:
            raise RuntimeError(f'selective_scan: the C++ kernel is unavailable: {_extension_error}')
    return backend


# --------------------------------------------------------------------------------------------
# Shared preprocessing
# --------------------------------------------------------------------------------------------
def _compute_dtype(u: Tensor) -> torch.dtype:
    # Half/bfloat16 accumulate in float32 (as mamba-ssm does); float64 stays float64 (gradcheck).
    return torch.float64 if u.dtype == torch.float64 else torch.float32


def _as_groups(BC: Tensor) -> Tensor:
    """View per-batch ``[batch, N, L]`` B/C as one group, ``[batch, 1, N, L]``."""
    return BC.unsqueeze(1) if BC.dim() == 3 else BC


def _common_groups(B: Tensor, C: Tensor, dim: int) -> Tuple[Tensor, Tensor, int]:
    """Bring variable B and C to one group count (both ``[batch, G, N, L]``).

    Constant (2-D) B/C pass through. When both are variable with different group counts, each is
    repeated to the common refinement of the two groupings, which keeps every channel's B and C.
    """
    B, C = (_as_groups(t) if t.dim() >= 3 else t for t in (B, C))
    group_counts = [t.shape[1] for t in (B, C) if t.dim() == 4]
    if not group_counts:
        return B, C, 1
    channels_per_group = math.gcd(*(dim // g for g in group_counts))
    n_groups = dim // channels_per_group

    def refine(t: Tensor) -> Tensor:
        if t.dim() != 4 or t.shape[1] == n_groups:
            return t
        return t.repeat_interleave(n_groups // t.shape[1], dim=1)

    return refine(B), refine(C), n_groups


def _variable_bc(B: Tensor, C: Tensor, batch: int, length: int) -> Tuple[Tensor, Tensor]:
    """Constant ``[dim, N]`` B / C as variable ones, a group per channel: ``[batch, dim, N, L]``.

    mamba-ssm's kernel returns wrong results for constant B / C (seen on an H200 with
    mamba-ssm 2.3.2: every output off, by up to 3.7); its variable, grouped path is right. The
    other of the two is brought to the same groups (the kernel wants one group count).
    """
    if B.dim() >= 3 and C.dim() >= 3:
        return B, C

    def variable(t: Tensor) -> Tensor:
        return t[None, :, :, None].expand(batch, -1, -1, length) if t.dim() == 2 else t

    B, C, _ = _common_groups(variable(B), variable(C), B.shape[0] if B.dim() == 2 else C.shape[0])
    return B, C


def _mamba_dtypes(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional[Tensor],
    z: Optional[Tensor],
    delta_bias: Optional[Tensor],
) -> Tuple[Optional[Tensor], ...]:
    """Cast to the dtypes mamba-ssm's CUDA kernel insists on.

    Sequence-shaped tensors (delta, z, variable B/C) take ``u``'s dtype; weights (A, constant B/C,
    D, delta_bias) are float32. Casts that change nothing are free.
    """

    def like_u(t: Optional[Tensor]) -> Optional[Tensor]:
        return None if t is None else t.to(u.dtype)

    def weight(t: Optional[Tensor]) -> Optional[Tensor]:
        return None if t is None else t.float()

    def bc(t: Tensor) -> Tensor:
        return like_u(t) if t.dim() >= 3 else weight(t)

    return (u, like_u(delta), weight(A), bc(B), bc(C), weight(D), like_u(z), weight(delta_bias))


# --------------------------------------------------------------------------------------------
# 'cpu' backend: the C++ kernel
# --------------------------------------------------------------------------------------------
class _SelectiveScanCpu(torch.autograd.Function):
    """Autograd wrapper of the C++ forward and backward kernels.

    B and C are ``[dim, N]`` (constant) or ``[batch, G, N, L]`` (variable, one group count for
    both).
    """

    @staticmethod
    def forward(
        ctx,
        u: Tensor,
        delta: Tensor,
        A: Tensor,
        B: Tensor,
        C: Tensor,
        D: Optional[Tensor],
        z: Optional[Tensor],
        delta_bias: Optional[Tensor],
        delta_softplus: bool,
        n_groups: int,
    ) -> Tuple[Tensor, Tensor]:
        out, last_state = _load_cpu_extension().fwd(
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, n_groups
        )
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias)
        ctx.delta_softplus = delta_softplus
        ctx.n_groups = n_groups
        # Unused outputs get None instead of a zero tensor in backward.
        ctx.set_materialize_grads(False)
        return out, last_state

    @staticmethod
    def backward(ctx, dout: Optional[Tensor], dlast_state: Optional[Tensor]) -> Tuple:
        u, delta, A, B, C, D, z, delta_bias = ctx.saved_tensors
        # The forward took variable B / C as strided views; the backward wants them contiguous.
        B, C = B.contiguous(), C.contiguous()
        dout = torch.zeros_like(u) if dout is None else dout.contiguous()
        if dlast_state is not None:
            dlast_state = dlast_state.contiguous()
        n_parts = _backward_parts(
            u.shape[0], u.shape[1], ctx.n_groups, B.dim() == 4 or C.dim() == 4
        )
        grads = _load_cpu_extension().bwd(
            dout,
            dlast_state,
            u,
            delta,
            A,
            B,
            C,
            D,
            z,
            delta_bias,
            ctx.delta_softplus,
            ctx.n_groups,
            n_parts,
        )
        return (*grads, None, None)


def _backward_parts(batch: int, dim: int, n_groups: int, any_variable: bool) -> int:
    """How many tasks share one group's channels in the backward kernel.

    Channels of a group add into the same dB/dC, so each task owns a private ``[L, N]`` slab for
    them, zeroed and summed afterwards. Split a group only as far as needed to keep every thread
    busy: tasks are handed out dynamically, and two per thread balance the load as well as more
    (measured), without the extra slabs.
    """
    per_group = dim // n_groups
    if not any_variable:
        return per_group  # nothing is shared: one channel per task
    wanted_tasks = 2 * torch.get_num_threads()
    return max(1, min(per_group, -(-wanted_tasks // (batch * n_groups))))


def _scan_cpu(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional[Tensor],
    z: Optional[Tensor],
    delta_bias: Optional[Tensor],
    delta_softplus: bool,
) -> Tuple[Tensor, Tensor]:
    """Run the C++ kernel; inputs are already in the compute dtype."""
    B, C, n_groups = _common_groups(B, C, u.shape[1])
    u, delta, A, D, z, delta_bias = (
        None if t is None else t.contiguous() for t in (u, delta, A, D, z, delta_bias)
    )
    # Variable B / C only need unit stride along L in the forward kernel: VMamba's are slices of
    # one projection output, and copying them would cost a pass over 2 N values per step.
    B, C = (t if t.dim() == 4 and t.stride(-1) == 1 else t.contiguous() for t in (B, C))
    return _SelectiveScanCpu.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus, n_groups)


# --------------------------------------------------------------------------------------------
# 'torch' backend: two-level chunked scan
# --------------------------------------------------------------------------------------------
def _skip_and_gate(y: Tensor, u: Tensor, D: Optional[Tensor], z: Optional[Tensor]) -> Tensor:
    """``(y + D * u) * silu(z)``, each part optional."""
    if D is not None:
        y = y + u * D[:, None]
    if z is not None:
        y = y * F.silu(z)
    return y


def _processed_delta(delta: Tensor, delta_bias: Optional[Tensor], delta_softplus: bool) -> Tensor:
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    return F.softplus(delta) if delta_softplus else delta


def _per_channel(BC: Tensor, layout: ChunkLayout, n_groups: int) -> Tensor:
    """B or C broadcastable against chunked states ``[K, batch, G, H, n_chunks, N]``."""
    if BC.dim() == 2:  # [dim, N]: the same for every step
        return BC.view(1, 1, n_groups, BC.shape[0] // n_groups, 1, -1)
    BC = layout.split(_as_groups(BC))  # [K, batch, G, N, n_chunks]
    return BC.transpose(-1, -2).contiguous().unsqueeze(3)  # [K, batch, G, 1, n_chunks, N]


def _scan_torch(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Optional[Tensor],
    z: Optional[Tensor],
    delta_bias: Optional[Tensor],
    delta_softplus: bool,
) -> Tuple[Tensor, Tensor]:
    """Pure-torch chunked scan (autograd gives the backward); inputs are in the compute dtype."""
    batch, dim, length = u.shape
    B, C, n_groups = _common_groups(B, C, dim)
    per_group = dim // n_groups
    layout = ChunkLayout(length)
    dt = _processed_delta(delta, delta_bias, delta_softplus)
    # [K, batch, G, H, n_chunks, 1]: padded steps get dt = 0, i.e. decay 1 and no input, so the
    # state after the last real step is carried unchanged to the end of the padding.
    dt_chunks = layout.split(dt.view(batch, n_groups, per_group, length)).unsqueeze(-1)
    dt_u_chunks = layout.split((dt * u).view(batch, n_groups, per_group, length)).unsqueeze(-1)
    A = A.view(1, 1, n_groups, per_group, 1, -1)

    inputs = dt_u_chunks * _per_channel(B, layout, n_groups)
    states = scan_chunks(dt_chunks * A, inputs)  # [K, batch, G, H, n_chunks, N]
    y = (states * _per_channel(C, layout, n_groups)).sum(-1)
    y = layout.merge(y).reshape(batch, dim, length)
    last_state = states[-1, :, :, :, -1].reshape(batch, dim, -1)
    return _skip_and_gate(y, u, D, z), last_state


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------
def selective_scan(
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
    backend: str = 'auto',
) -> ScanOutput:
    """Selective scan with mamba-ssm's ``selective_scan_fn`` semantics, differentiable.

    For every batch ``b``, channel ``d`` and state ``n``::

        dt_t = softplus(delta_t + delta_bias)   (bias / softplus optional)
        x_t  = exp(dt_t * A) * x_{t-1} + dt_t * B_t * u_t
        y_t  = sum_n C_t * x_t + D * u_t
        out  = y * silu(z)                     (if z is given)

    Args:
        u (Tensor): Input, ``[batch, dim, L]``.
        delta (Tensor): Step sizes, ``[batch, dim, L]``.
        A (Tensor): Real state matrix (diagonal), ``[dim, N]``.
        B (Tensor): Input matrix, ``[dim, N]`` (constant), ``[batch, N, L]`` or grouped
            ``[batch, G, N, L]`` with ``dim % G == 0``; channel ``d`` uses group
            ``d // (dim // G)`` (VMamba scans its 4 directions in one call with ``G = 4``).
        C (Tensor): Output matrix, ``[dim, N]`` (constant), ``[batch, N, L]`` or grouped
            ``[batch, G, N, L]``, as ``B``.
        D (Tensor, optional): Skip connection, ``[dim]``.
        z (Tensor, optional): Gate, ``[batch, dim, L]``; the output is multiplied by ``silu(z)``.
        delta_bias (Tensor, optional): Added to ``delta``, ``[dim]``.
        delta_softplus (bool): Apply softplus to ``delta`` (after the bias).
        return_last_state (bool): Also return the final state.
        backend (str): ``'auto'`` (see :func:`selective_scan_backend`), ``'cuda'``, ``'cpu'``,
            ``'torch'`` or ``'ref'``.

    Returns:
        Tensor | tuple[Tensor, Tensor]: ``out`` ``[batch, dim, L]`` in ``u``'s dtype and, if
        ``return_last_state``, the final state ``[batch, dim, N]`` in float32 (float64 for
        float64 inputs). The CPU and torch paths also backpropagate through the final state;
        mamba-ssm's CUDA kernel ignores its gradient.

    Raises:
        ValueError: If a shape does not match; the message names the argument and the shapes.
    """
    _check_inputs(u, delta, A, B, C, D, z, delta_bias)
    backend = _resolve_backend(backend, u)
    if backend == 'cuda':
        B, C = _variable_bc(B, C, u.shape[0], u.shape[2])
        return _load_mamba_scan_fn()(
            *_mamba_dtypes(u, delta, A, B, C, D, z, delta_bias), delta_softplus, return_last_state
        )
    if backend == 'ref':
        return selective_scan_ref(
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state
        )

    dtype = _compute_dtype(u)
    cast = [None if t is None else t.to(dtype) for t in (u, delta, A, B, C, D, z, delta_bias)]
    scan = _scan_cpu if backend == 'cpu' else _scan_torch
    out, last_state = scan(*cast, delta_softplus)
    out = out.to(u.dtype)
    return (out, last_state) if return_last_state else out
