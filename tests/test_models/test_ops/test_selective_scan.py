"""The selective scan: every path against the sequential reference, forward and backward."""

import itertools
import sys
import warnings
from typing import Dict, List, Optional, Sequence

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from mmcofnet.models.ops import selective_scan, selective_scan_backend, selective_scan_ref

FAST_CPU_BACKENDS = ('cpu', 'torch')
OPTION_NAMES = ('D', 'z', 'delta_bias', 'delta_softplus', 'return_last_state')
OPTION_COMBOS = [
    dict(zip(OPTION_NAMES, flags)) for flags in itertools.product((False, True), repeat=5)
]
FP32_TOL = dict(atol=1e-4, rtol=1e-4)
GRAD_INPUTS = ('u', 'delta', 'A', 'B', 'C', 'D', 'z', 'delta_bias')


def require_backend(backend: str) -> str:
    """Skip when the C++ kernel cannot be built here (the package then falls back to torch)."""
    if backend == 'cpu' and selective_scan_backend('cpu') != 'cpu':
        pytest.skip('the C++ selective-scan kernel is not available on this machine')
    return backend


def make_bc(
    layout: str,
    batch: int,
    dim: int,
    dstate: int,
    length: int,
    groups: int,
    gen: torch.Generator,
    dtype: torch.dtype,
) -> Tensor:
    """B or C in one of the layouts: 'const' [dim, N], 'batch' [b, N, L], 'group' [b, G, N, L]."""
    shape = {
        'const': (dim, dstate),
        'batch': (batch, dstate, length),
        'group': (batch, groups, dstate, length),
    }[layout]
    return torch.randn(*shape, generator=gen, dtype=dtype)


def make_inputs(
    batch: int = 2,
    dim: int = 8,
    length: int = 37,
    dstate: int = 5,
    B_layout: str = 'group',
    C_layout: Optional[str] = None,
    groups: int = 4,
    D: bool = True,
    z: bool = True,
    delta_bias: bool = True,
    delta_softplus: bool = True,
    return_last_state: bool = False,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    requires_grad: bool = False,
) -> Dict:
    """Keyword arguments of one scan call; decays stay in (0, 1) as in a trained model."""
    gen = torch.Generator().manual_seed(seed)
    C_layout = C_layout or B_layout

    def rand(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=gen, dtype=dtype)

    def randn(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=gen, dtype=dtype)

    # Raw delta around -1 goes through softplus; without softplus it must already be positive.
    delta_values = (
        randn(batch, dim, length) * 0.5 - 1.0 if delta_softplus else rand(batch, dim, length) * 0.5
    )
    kwargs = dict(
        u=randn(batch, dim, length),
        delta=delta_values,
        A=-(rand(dim, dstate) * 2 + 0.1),
        B=make_bc(B_layout, batch, dim, dstate, length, groups, gen, dtype),
        C=make_bc(C_layout, batch, dim, dstate, length, groups, gen, dtype),
        D=randn(dim) if D else None,
        z=randn(batch, dim, length) if z else None,
        delta_bias=rand(dim) * 0.3 if delta_bias else None,
    )
    if requires_grad:
        for value in kwargs.values():
            if value is not None:
                value.requires_grad_(True)
    kwargs.update(delta_softplus=delta_softplus, return_last_state=return_last_state)
    return kwargs


def outputs_of(result) -> List[Tensor]:
    return list(result) if isinstance(result, tuple) else [result]


def grads_of(kwargs: Dict, outputs: Sequence[Tensor]) -> Dict[str, Tensor]:
    """Gradients of a fixed, non-trivial function of the outputs w.r.t. every tensor input."""
    names = [
        name for name in GRAD_INPUTS if kwargs.get(name) is not None and kwargs[name].requires_grad
    ]
    gen = torch.Generator().manual_seed(1)
    loss = sum(
        (out.float() * torch.randn(out.shape, generator=gen).to(out.device)).sum()
        for out in outputs
    )
    grads = torch.autograd.grad(loss, [kwargs[name] for name in names])
    return dict(zip(names, grads))


def assert_matches_reference(
    backend: str, kwargs: Dict, check_grads: bool, tol: Optional[Dict] = None
) -> None:
    tol = tol or FP32_TOL
    expected = outputs_of(selective_scan_ref(**kwargs))
    actual = outputs_of(selective_scan(**kwargs, backend=backend))
    assert len(actual) == len(expected)
    for out, ref in zip(actual, expected):
        assert out.dtype == ref.dtype and out.shape == ref.shape
        torch.testing.assert_close(out, ref, **tol)
    if check_grads:
        expected_grads = grads_of(kwargs, expected)
        for name, grad in grads_of(kwargs, actual).items():
            torch.testing.assert_close(
                grad, expected_grads[name], **tol, msg=lambda m, n=name: f'd{n}: {m}'
            )


@pytest.mark.parametrize('backend', FAST_CPU_BACKENDS)
@pytest.mark.parametrize('layout', ['const', 'batch', 'group'])
@pytest.mark.parametrize(
    'options', OPTION_COMBOS, ids=lambda o: '-'.join(k for k, v in o.items() if v) or 'plain'
)
def test_matches_reference(backend: str, layout: str, options: Dict) -> None:
    """Outputs and gradients of every input agree with the reference for every option."""
    require_backend(backend)
    kwargs = make_inputs(B_layout=layout, requires_grad=True, **options)
    assert_matches_reference(backend, kwargs, check_grads=True)


@pytest.mark.parametrize('backend', FAST_CPU_BACKENDS)
@pytest.mark.parametrize('dstate', [1, 4, 7, 8, 16, 32, 64])
def test_state_sizes(backend: str, dstate: int) -> None:
    """Compile-time (powers of two up to 64) and run-time state sizes give the same results."""
    require_backend(backend)
    kwargs = make_inputs(dstate=dstate, length=19, requires_grad=True, return_last_state=True)
    assert_matches_reference(backend, kwargs, check_grads=True)


@pytest.mark.parametrize('backend', FAST_CPU_BACKENDS)
@pytest.mark.parametrize(
    'B_layout, C_layout, groups',
    [
        ('const', 'group', 4),
        ('group', 'const', 2),
        ('batch', 'group', 4),
        ('group', 'batch', 2),
    ],
)
def test_mixed_layouts(backend: str, B_layout: str, C_layout: str, groups: int) -> None:
    """B and C may use different layouts (and so different group counts)."""
    require_backend(backend)
    kwargs = make_inputs(B_layout=B_layout, C_layout=C_layout, groups=groups, requires_grad=True)
    assert_matches_reference(backend, kwargs, check_grads=True)


@pytest.mark.parametrize('backend', FAST_CPU_BACKENDS)
def test_vmamba_four_directions(backend: str) -> None:
    """The hot path: u [b, 4 * d, L] with B/C [b, 4, N, L] and one image.

    Large enough for the C++ kernel to use its thread pool (small calls run inline).
    """
    require_backend(backend)
    kwargs = make_inputs(
        batch=1,
        dim=4 * 8,
        length=256,
        dstate=16,
        groups=4,
        z=False,
        requires_grad=True,
        return_last_state=True,
    )
    assert_matches_reference(backend, kwargs, check_grads=True)


@pytest.mark.parametrize('backend', FAST_CPU_BACKENDS)
@pytest.mark.parametrize('length', [1, 2, 50])
def test_sequence_lengths(backend: str, length: int) -> None:
    """Lengths that are not a square (the torch path pads its chunks) and a single step."""
    require_backend(backend)
    kwargs = make_inputs(length=length, requires_grad=True, return_last_state=True)
    assert_matches_reference(backend, kwargs, check_grads=True)


@pytest.mark.parametrize('backend', FAST_CPU_BACKENDS)
def test_non_contiguous_inputs(backend: str) -> None:
    require_backend(backend)
    kwargs = make_inputs(batch=3, dim=8, length=11)
    kwargs['u'] = kwargs['u'].transpose(0, 2).contiguous().transpose(0, 2)
    kwargs['B'] = kwargs['B'].transpose(-1, -2).contiguous().transpose(-1, -2)
    assert not kwargs['u'].is_contiguous() and not kwargs['B'].is_contiguous()
    assert_matches_reference(backend, kwargs, check_grads=False)


@pytest.mark.parametrize('backend', FAST_CPU_BACKENDS)
@pytest.mark.parametrize('dstate', [16, 5])
@pytest.mark.parametrize('threads', [1, 2])
def test_long_sequences_with_sliced_bc(backend: str, dstate: int, threads: int) -> None:
    """Several time tiles of the C++ forward (256 steps) plus a partial one, a group's channels
    split into uneven blocks (with two threads and batch * G = 2 tasks too few), and VMamba's
    B / C: slices of one projection output (unit stride along L only), read in place.
    """
    require_backend(backend)
    batch, groups, per_group, length = 1, 2, 7, 600
    kwargs = make_inputs(
        batch=batch,
        dim=groups * per_group,
        length=length,
        dstate=dstate,
        groups=groups,
        requires_grad=True,
        return_last_state=True,
    )
    gen = torch.Generator().manual_seed(5)
    x_dbl = torch.randn(batch, groups, 1 + 2 * dstate, length, generator=gen).requires_grad_(True)
    kwargs['B'] = x_dbl[:, :, 1 : 1 + dstate]
    kwargs['C'] = x_dbl[:, :, 1 + dstate :]
    assert not kwargs['B'].is_contiguous() and kwargs['B'].stride(-1) == 1
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        assert_matches_reference(backend, kwargs, check_grads=True)
    finally:
        torch.set_num_threads(previous_threads)


@pytest.mark.parametrize('backend', FAST_CPU_BACKENDS)
@pytest.mark.parametrize('layout', ['const', 'batch', 'group'])
@pytest.mark.parametrize('dstate', [3, 4])
def test_gradcheck(backend: str, layout: str, dstate: int) -> None:
    """Analytic gradients equal finite differences (float64), last-state gradient included."""
    require_backend(backend)
    kwargs = make_inputs(
        batch=2,
        dim=4,
        length=6,
        dstate=dstate,
        B_layout=layout,
        groups=2,
        dtype=torch.float64,
        requires_grad=True,
        return_last_state=True,
    )
    names = [name for name in GRAD_INPUTS if kwargs[name] is not None]
    fixed = {k: v for k, v in kwargs.items() if k not in names}

    def scan(*tensors: Tensor):
        return selective_scan(**dict(zip(names, tensors)), **fixed, backend=backend)

    assert torch.autograd.gradcheck(scan, [kwargs[name] for name in names])


@pytest.mark.parametrize('backend', FAST_CPU_BACKENDS)
def test_gradient_through_last_state_only(backend: str) -> None:
    """A loss on the final state alone (the output gets no gradient) still backpropagates."""
    require_backend(backend)
    # C, D and z only act on the output, so the final state does not depend on them.
    kwargs = make_inputs(length=9, requires_grad=True, return_last_state=True, D=False, z=False)
    kwargs['C'].requires_grad_(False)
    _, ref_last_state = selective_scan_ref(**kwargs)
    expected = grads_of(kwargs, [ref_last_state])
    _, last_state = selective_scan(**kwargs, backend=backend)
    for name, grad in grads_of(kwargs, [last_state]).items():
        torch.testing.assert_close(grad, expected[name], **FP32_TOL)


def test_falls_back_to_torch_when_the_kernel_cannot_be_built(monkeypatch) -> None:
    """A failed build warns once and 'auto' then runs the torch path; nothing crashes."""
    import torch.utils.cpp_extension

    scan_module = sys.modules[selective_scan.__module__]

    def failing_load(*args, **kwargs):
        raise RuntimeError('no compiler here')

    monkeypatch.setattr(scan_module, '_extension', None)
    monkeypatch.setattr(scan_module, '_extension_error', None)
    monkeypatch.setattr(torch.utils.cpp_extension, 'load', failing_load)
    kwargs = make_inputs(length=7)
    with pytest.warns(RuntimeWarning, match='no compiler here'):
        assert selective_scan_backend('cpu') == 'torch'
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no second warning
        out = selective_scan(**kwargs)
    torch.testing.assert_close(out, selective_scan_ref(**kwargs), **FP32_TOL)
    with pytest.raises(RuntimeError, match='C\\+\\+ kernel is unavailable'):
        selective_scan(**kwargs, backend='cpu')


@pytest.mark.parametrize('backend', FAST_CPU_BACKENDS + ('ref',))
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_low_precision_accumulates_in_fp32(backend: str, dtype: torch.dtype) -> None:
    """Half inputs: the scan runs in float32 on the same values, only the output is rounded."""
    require_backend(backend)
    kwargs = make_inputs(dtype=dtype, length=64, return_last_state=True, requires_grad=True)
    out, last_state = selective_scan(**kwargs, backend=backend)
    assert out.dtype == dtype and last_state.dtype == torch.float32

    fp32 = {k: v.detach().float() if isinstance(v, Tensor) else v for k, v in kwargs.items()}
    ref_out, ref_last_state = selective_scan_ref(**fp32)
    # Only the final rounding to the low-precision dtype may differ.
    torch.testing.assert_close(out.float(), ref_out, atol=1e-4, rtol=torch.finfo(dtype).eps)
    torch.testing.assert_close(last_state, ref_last_state, **FP32_TOL)
    out.float().sum().backward()
    assert kwargs['u'].grad.dtype == dtype and kwargs['A'].grad.dtype == dtype


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 3),
    groups=st.integers(1, 3),
    channels_per_group=st.integers(1, 4),
    length=st.integers(1, 24),
    dstate=st.sampled_from([1, 2, 3, 4, 8, 16]),
    B_layout=st.sampled_from(['const', 'batch', 'group']),
    C_layout=st.sampled_from(['const', 'batch', 'group']),
    flags=st.tuples(*[st.booleans()] * 5),
    seed=st.integers(0, 2**16),
)
def test_property_random_shapes(
    batch: int,
    groups: int,
    channels_per_group: int,
    length: int,
    dstate: int,
    B_layout: str,
    C_layout: str,
    flags: tuple,
    seed: int,
) -> None:
    """Random small shapes and options: every CPU path agrees with the reference, with grads."""
    options = dict(zip(OPTION_NAMES, flags))
    kwargs = make_inputs(
        batch=batch,
        dim=groups * channels_per_group,
        length=length,
        dstate=dstate,
        B_layout=B_layout,
        C_layout=C_layout,
        groups=groups,
        seed=seed,
        requires_grad=True,
        **options,
    )
    for backend in FAST_CPU_BACKENDS:
        if backend == 'cpu' and selective_scan_backend('cpu') != 'cpu':
            continue
        assert_matches_reference(backend, kwargs, check_grads=True)


def test_auto_backend_on_cpu() -> None:
    kwargs = make_inputs()
    torch.testing.assert_close(selective_scan(**kwargs), selective_scan_ref(**kwargs), **FP32_TOL)


def test_tracing_uses_the_torch_path() -> None:
    """Tracing (as export does) records plain tensor ops, so the traced graph reruns correctly."""
    kwargs = make_inputs(length=6, z=False)
    tensors = {k: v for k, v in kwargs.items() if isinstance(v, Tensor)}
    flags = {k: v for k, v in kwargs.items() if not isinstance(v, Tensor)}

    def scan(*args: Tensor) -> Tensor:
        return selective_scan(**dict(zip(tensors, args)), **flags)

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # TracerWarnings about Python loops and shapes
        traced = torch.jit.trace(scan, tuple(tensors.values()))
    assert '_SelectiveScanCpu' not in str(traced.graph)  # no opaque kernel call
    other = make_inputs(length=6, z=False, seed=3)
    other_tensors = tuple(v for v in other.values() if isinstance(v, Tensor))
    torch.testing.assert_close(traced(*other_tensors), selective_scan_ref(**other), **FP32_TOL)


def test_backend_argument_is_checked() -> None:
    kwargs = make_inputs(length=4)
    with pytest.raises(ValueError, match='backend must be one of'):
        selective_scan(**kwargs, backend='fast')
    with pytest.raises(RuntimeError, match='CUDA'):
        selective_scan(**kwargs, backend='cuda')


def _bad_shape_cases() -> List:
    b, d, length, n = 2, 8, 5, 3
    good = dict(
        u=(b, d, length),
        delta=(b, d, length),
        A=(d, n),
        B=(b, 2, n, length),
        C=(b, 2, n, length),
        D=(d,),
        z=(b, d, length),
        delta_bias=(d,),
    )
    bad = [
        ('u', (b, d), 'u must be'),
        ('u', (b, d, 0), 'L >= 1'),
        ('delta', (b, d, length + 1), 'delta has shape'),
        ('A', (d + 1, n), 'A has shape'),
        ('A', (d, n, 1), 'A has shape'),
        ('B', (b, 3, n, length), 'B has shape'),
        ('B', (b, n + 1, length), 'B has shape'),
        ('C', (d, n + 1), 'C has shape'),
        ('C', (b + 1, 2, n, length), 'C has shape'),
        ('D', (d + 1,), 'D has shape'),
        ('z', (b, d, length - 1), 'z has shape'),
        ('delta_bias', (1, d), 'delta_bias has shape'),
    ]
    return [
        pytest.param(good, name, shape, match, id=f'{name}{list(shape)}')
        for name, shape, match in bad
    ]


@pytest.mark.parametrize('good, name, shape, match', _bad_shape_cases())
def test_wrong_shapes_raise_value_error(good: Dict, name: str, shape: tuple, match: str) -> None:
    """The message names the argument and shows the shapes involved."""
    kwargs = {k: torch.rand(*v) for k, v in good.items()}
    kwargs[name] = torch.rand(*shape)
    with pytest.raises(ValueError, match=match) as error:
        selective_scan(**kwargs)
    assert str(tuple(shape)) in str(error.value)


def test_complex_A_is_rejected() -> None:
    kwargs = make_inputs(length=4)
    kwargs['A'] = torch.complex(kwargs['A'], kwargs['A'])
    with pytest.raises(ValueError, match='complex A'):
        selective_scan(**kwargs)


@pytest.mark.parametrize(
    'B_layout,C_layout', [('const', 'const'), ('const', 'group'), ('batch', 'const')]
)
def test_constant_bc_as_per_channel_groups_keep_the_scan(B_layout: str, C_layout: str) -> None:
    # The CUDA path hands mamba-ssm constant B / C as variable ones, a group per channel.
    from mmcofnet.models.ops.selective_scan import _variable_bc

    kwargs = make_inputs(B_layout=B_layout, C_layout=C_layout, length=16, dstate=4)
    B, C = _variable_bc(kwargs['B'], kwargs['C'], batch=2, length=16)
    assert B.dim() == C.dim() == 4 and B.shape[1] == C.shape[1]
    torch.testing.assert_close(
        selective_scan_ref(**{**kwargs, 'B': B, 'C': C}), selective_scan_ref(**kwargs)
    )


def _mamba_ssm_available() -> bool:
    try:
        import mamba_ssm  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.cuda  # skipped without a CUDA device (conftest.py)
@pytest.mark.skipif(not _mamba_ssm_available(), reason='needs mamba-ssm')
@pytest.mark.parametrize('layout', ['const', 'batch', 'group'])
def test_mamba_ssm_cuda_matches_reference(layout: str) -> None:
    assert selective_scan_backend('cuda') == 'cuda'
    tol = dict(atol=1e-3, rtol=1e-3)
    # mamba-ssm returns the last state but does not backpropagate through it.
    for return_last_state in (True, False):
        kwargs = make_inputs(
            B_layout=layout, length=64, dstate=16, return_last_state=return_last_state
        )
        kwargs = {
            k: v.cuda().requires_grad_(True) if isinstance(v, Tensor) else v
            for k, v in kwargs.items()
        }
        assert_matches_reference('cuda', kwargs, check_grads=not return_last_state, tol=tol)


@pytest.mark.cuda  # skipped without a CUDA device (conftest.py)
def test_torch_path_on_cuda_matches_reference() -> None:
    kwargs = make_inputs(length=64, dstate=16, return_last_state=True)
    kwargs = {
        k: v.cuda().requires_grad_(True) if isinstance(v, Tensor) else v for k, v in kwargs.items()
    }
    assert_matches_reference('torch', kwargs, check_grads=True, tol=dict(atol=1e-3, rtol=1e-3))
