"""Cross scan/merge, causal conv1d and the selective-scan blocks (SS2D, MambaBlock, VSSBlock)."""

import pytest
import torch
import torch.nn.functional as F

from mmcofnet.models.layers import (
    SS2D,
    DirectionalSSM,
    MambaBlock,
    SepConvMixer,
    VSSBlock,
    causal_conv1d,
)
from mmcofnet.models.ops.cross_scan import cross_merge, cross_scan
from mmcofnet.models.ops.selective_scan_ref import selective_scan_ref


def naive_orders(h: int, w: int) -> list:
    """Row-major index of each sequence position, for the four directions, by plain loops."""
    row_major = [r * w + c for r in range(h) for c in range(w)]
    col_major = [r * w + c for c in range(w) for r in range(h)]
    return [row_major, col_major, row_major[::-1], col_major[::-1]]


@pytest.mark.parametrize('h, w', [(1, 1), (3, 5), (4, 4), (7, 2)])
def test_cross_scan_matches_naive_loop(h, w):
    x = torch.randn(2, 3, h, w)
    xs = cross_scan(x)
    assert xs.shape == (2, 4, 3, h * w)
    flat = x.flatten(2)
    for k, order in enumerate(naive_orders(h, w)):
        for t, pixel in enumerate(order):
            torch.testing.assert_close(xs[:, k, :, t], flat[:, :, pixel], rtol=0, atol=0)


@pytest.mark.parametrize('h, w', [(1, 1), (3, 5), (4, 4), (7, 2)])
def test_cross_merge_matches_naive_loop(h, w):
    ys = torch.randn(2, 4, 3, h * w)
    expected = torch.zeros(2, 3, h * w)
    for k, order in enumerate(naive_orders(h, w)):
        for t, pixel in enumerate(order):
            expected[:, :, pixel] += ys[:, k, :, t]
    merged = cross_merge(ys.view(2, 4, 3, h, w))
    torch.testing.assert_close(merged, expected)


@pytest.mark.parametrize('requires_grad', [False, True])
def test_cross_merge_channels_last(requires_grad):
    ys = torch.randn(2, 4, 3, 5, 6, requires_grad=requires_grad)
    merged = cross_merge(ys, channels_last=True)
    assert merged.shape == (2, 5, 6, 3) and merged.is_contiguous()
    expected = cross_merge(ys).view(2, 3, 5, 6).permute(0, 2, 3, 1)
    torch.testing.assert_close(merged, expected)
    if requires_grad:
        merged.sum().backward()
        torch.testing.assert_close(ys.grad, torch.ones_like(ys))


def test_cross_scan_accepts_channels_last_input():
    x = torch.randn(2, 3, 5, 6)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(cross_scan(x_cl), cross_scan(x), rtol=0, atol=0)


def test_cross_merge_is_adjoint_of_cross_scan_and_differentiable():
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    ys = torch.randn(2, 4, 3, 5, 6, dtype=torch.float64)
    lhs = (cross_scan(x).flatten(3) * ys.flatten(3)).sum()
    rhs = (x.flatten(2) * cross_merge(ys)).sum()
    torch.testing.assert_close(lhs, rhs)
    # Merging the scan of x visits every pixel once per direction.
    torch.testing.assert_close(cross_merge(cross_scan(x).view(2, 4, 3, 5, 6)), 4 * x.flatten(2))
    assert torch.autograd.gradcheck(cross_scan, (x,))
    assert torch.autograd.gradcheck(cross_merge, (ys.clone().requires_grad_(),))


def test_causal_conv1d_is_causal_and_matches_padded_conv():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 20)
    weight, bias = torch.randn(6, 4), torch.randn(6)
    out = causal_conv1d(x, weight, bias)
    # Reference: a symmetric-padded conv truncated to the first L outputs (mamba-ssm's layout).
    expected = F.conv1d(x, weight.unsqueeze(1), bias, padding=3, groups=6)[..., :20]
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(causal_conv1d(x, weight, bias, activation='silu'), F.silu(out))

    t = 11
    x_future = x.clone()
    x_future[..., t + 1 :] = torch.randn_like(x_future[..., t + 1 :])
    out_future = causal_conv1d(x_future, weight, bias)
    torch.testing.assert_close(out_future[..., : t + 1], out[..., : t + 1], rtol=0, atol=0)
    assert not torch.allclose(out_future[..., t + 1 :], out[..., t + 1 :])


def test_ssm_init_follows_mamba():
    ssm = DirectionalSSM(d_inner=8, num_directions=4, d_state=5, dt_rank=2)
    assert ssm.x_proj_weight.shape == (4, 2 + 2 * 5, 8)
    assert ssm.dt_projs_weight.shape == (4, 8, 2)
    torch.testing.assert_close(ssm.A_logs, torch.log(torch.arange(1.0, 6.0)).repeat(32, 1))
    torch.testing.assert_close(ssm.Ds, torch.ones(32))
    dt = F.softplus(ssm.dt_projs_bias)
    assert dt.shape == (4, 8)
    assert bool(((dt >= 1e-4 - 1e-7) & (dt <= 0.1 + 1e-6)).all())


def test_grouped_ssm_equals_one_scan_per_direction():
    """One grouped scan call == K scans, each with its own direction's parameters."""
    torch.manual_seed(0)
    K, d, N, R, L = 4, 6, 3, 2, 9
    ssm = DirectionalSSM(d, K, d_state=N, dt_rank=R)
    xs = torch.randn(2, K, d, L)
    out = ssm(xs).view(2, K, d, L)
    for k in range(K):
        x_dbl = torch.einsum('cd,bdl->bcl', ssm.x_proj_weight[k], xs[:, k])
        dt, B, C = x_dbl.split([R, N, N], dim=1)
        delta = torch.einsum('dr,brl->bdl', ssm.dt_projs_weight[k], dt)
        rows = slice(k * d, (k + 1) * d)
        expected = selective_scan_ref(
            xs[:, k],
            delta,
            -torch.exp(ssm.A_logs[rows]),
            B,
            C,
            D=ssm.Ds[rows],
            delta_bias=ssm.dt_projs_bias[k],
            delta_softplus=True,
        )
        torch.testing.assert_close(out[:, k], expected, rtol=1e-4, atol=1e-5)


def receptive_field(mixer: torch.nn.Module, h: int, w: int, pixel: tuple) -> torch.Tensor:
    """Which input pixels the output at ``pixel`` depends on (gradient magnitude > 0)."""
    x = torch.randn(1, h, w, 8, requires_grad=True)
    mixer(x)[0, pixel[0], pixel[1]].sum().backward()
    return x.grad[0].abs().sum(-1) > 0


@pytest.mark.parametrize('mixer_cls', [SS2D, MambaBlock])
def test_mixers_keep_shape_and_see_the_whole_map(mixer_cls):
    torch.manual_seed(0)
    mixer = mixer_cls(8, d_state=4)
    x = torch.randn(2, 5, 7, 8)
    assert mixer(x).shape == (2, 5, 7, 8)
    # Any pixel, including a corner, depends on every pixel: the scans make the mixing global.
    for pixel in [(0, 0), (2, 3), (4, 6)]:
        assert bool(receptive_field(mixer, 5, 7, pixel).all())


@pytest.mark.parametrize('with_gate', [False, True])
def test_ss2d_gate_halves_the_in_projection(with_gate):
    torch.manual_seed(0)
    mixer = SS2D(8, d_state=2, ssm_ratio=2.0, with_gate=with_gate)
    assert mixer.d_inner == 16
    assert mixer.in_proj.out_features == (32 if with_gate else 16)
    x = torch.randn(1, 3, 4, 8)
    assert mixer(x).abs().min() > 0
    # The gate is the second half of in_proj: z = 0 gives silu(z) = 0, so a zero output.
    with torch.no_grad():
        mixer.in_proj.weight[16:] = 0
        out = mixer(x)
    if with_gate:
        assert out.abs().max() == 0
    else:
        assert out.abs().min() > 0


@pytest.mark.parametrize('mixer_type', ['ss2d', 'mamba', 'conv'])
@pytest.mark.parametrize('mlp_ratio, gated_mlp', [(4.0, True), (2.0, False), (0, True)])
def test_vss_block_shapes_and_grads(mixer_type, mlp_ratio, gated_mlp):
    block = VSSBlock(
        16,
        mixer_type=mixer_type,
        d_state=4,
        mlp_ratio=mlp_ratio,
        gated_mlp=gated_mlp,
        drop_path=0.1,
    )
    assert hasattr(block, 'mlp') == (mlp_ratio > 0)
    x = torch.randn(2, 6, 5, 16, requires_grad=True)
    out = block(x)
    assert out.shape == x.shape
    out.square().mean().backward()
    assert torch.isfinite(x.grad).all()
    for name, param in block.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name


@pytest.mark.parametrize('mixer_type', ['ss2d', 'mamba', 'conv'])
def test_vss_block_gradients_are_exact(mixer_type):
    """Numerical gradcheck (float64) of the whole block, in-place ops and scan included."""
    torch.manual_seed(0)
    block = VSSBlock(4, mixer_type=mixer_type, d_state=2, ssm_ratio=1.0, mlp_ratio=1.0).double()
    x = torch.randn(1, 3, 2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,), eps=1e-6, atol=1e-5)


def test_vss_block_checkpointing_gives_equal_outputs_and_grads():
    torch.manual_seed(0)
    block = VSSBlock(8, d_state=4)
    block_cp = VSSBlock(8, d_state=4, with_cp=True)
    block_cp.load_state_dict(block.state_dict())
    x = torch.randn(1, 4, 5, 8)
    grads = []
    for module in (block, block_cp):
        x_in = x.clone().requires_grad_()
        out = module(x_in)
        out.sum().backward()
        grads.append((out.detach(), x_in.grad, module.mixer.ssm.A_logs.grad))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_vss_block_rejects_unknown_mixer():
    with pytest.raises(ValueError, match='mixer_type'):
        VSSBlock(8, mixer_type='attention')


def test_sep_conv_mixer_is_local_with_its_kernel():
    """A change at one pixel moves the output only within the depthwise kernel's reach."""
    torch.manual_seed(0)
    mixer = SepConvMixer(4, kernel_size=3).eval()
    x = torch.randn(1, 9, 9, 4)
    x2 = x.clone()
    x2[0, 4, 4] += 1.0
    with torch.no_grad():
        changed = (mixer(x2) - mixer(x)).abs().amax(-1)[0] > 0
    expected = torch.zeros(9, 9, dtype=torch.bool)
    expected[3:6, 3:6] = True
    assert torch.equal(changed, expected)
