"""ContinuousScaleField: shapes, level reproduction, continuity, gradients, drop-in use."""

import pytest
import torch
from mmdet.registry import MODELS

from mmcofnet.models.necks import (
    P3_P7_SCALES,
    ContinuousScaleField,
    FourierScaleEncoding,
    SirenMLP,
    scale_to_stride,
    stride_to_scale,
)

IN_CHANNELS = (8, 16, 24, 32)


def make_feats(batch=2, size=(64, 96)):
    torch.manual_seed(0)
    h, w = size
    strides = (4, 8, 16, 32)
    return [torch.randn(batch, c, -(-h // s), -(-w // s)) for c, s in zip(IN_CHANNELS, strides)]


def make_neck(**kwargs):
    torch.manual_seed(1)
    cfg = dict(
        type='ContinuousScaleField', in_channels=IN_CHANNELS, out_channels=16, modulation_scale=1.0
    )
    cfg.update(kwargs)
    neck = MODELS.build(cfg)
    neck.init_weights()
    # Give the FiLM projection non-zero weights so the tests see the modulation at work.
    torch.nn.init.normal_(neck.film.weight, std=0.2)
    torch.nn.init.normal_(neck.film.bias, std=0.2)
    return neck.eval()


def test_scale_stride_mapping():
    for stride, scale in ((4, 0.0), (8, 1 / 3), (16, 2 / 3), (32, 1.0), (64, 4 / 3), (128, 5 / 3)):
        assert stride_to_scale(stride) == pytest.approx(scale)
        assert scale_to_stride(scale) == pytest.approx(stride)


def test_forward_replaces_fpn_p3_p7():
    neck = make_neck()
    outs = neck(make_feats(size=(64, 96)))
    assert len(outs) == 5 and neck.out_scales == list(P3_P7_SCALES)
    expected = [(8, 12), (4, 6), (2, 3), (1, 2), (1, 1)]  # ceil(64 / stride), ceil(96 / stride)
    assert [tuple(o.shape[-2:]) for o in outs] == expected
    assert all(o.shape[:2] == (2, 16) for o in outs)


def test_intermediate_scale_has_intermediate_resolution():
    neck = make_neck(out_scales=(0.5,))  # stride 8 * sqrt(2) ~ 11.3
    (out,) = neck(make_feats(size=(64, 96)))
    assert tuple(out.shape[-2:]) == (6, 9)


def test_level_scale_reproduces_the_level_up_to_modulation():
    neck = make_neck(out_scales=(0.0, 1 / 3, 2 / 3, 1.0))
    feats = make_feats()
    with torch.no_grad():
        levels = neck.build_levels(feats)
        outs = neck(feats)
        for level, out, s in zip(levels, outs, neck.out_scales):
            gamma, beta = neck.modulation(torch.tensor(s))
            expected = level * (1 + gamma[:, None, None]) + beta[:, None, None]
            torch.testing.assert_close(out, expected)


def test_untrained_modulation_is_identity():
    neck = MODELS.build(
        dict(
            type='ContinuousScaleField',
            in_channels=IN_CHANNELS,
            out_channels=16,
            out_scales=(1 / 3,),
        )
    )
    neck.init_weights()
    feats = make_feats()
    with torch.no_grad():
        torch.testing.assert_close(neck(feats)[0], neck.build_levels(feats)[1])


def test_modulation_scale_slows_the_modulation_under_adam():
    # One Adam step moves every weight by about lr, whatever its gradient's size: the FiLM output,
    # shared by whole maps, then moves in proportion to modulation_scale.
    feats = make_feats()
    swings = []
    for scale in (1.0, 0.1):
        torch.manual_seed(1)
        neck = MODELS.build(
            dict(
                type='ContinuousScaleField',
                in_channels=IN_CHANNELS,
                out_channels=16,
                modulation_scale=scale,
            )
        )
        neck.init_weights()
        optimizer = torch.optim.Adam(neck.parameters(), lr=1e-2)
        sum(out.square().mean() for out in neck(feats)).backward()
        optimizer.step()
        with torch.no_grad():
            gamma, beta = neck.modulation(torch.tensor(neck.out_scales))
        swings.append(torch.cat([gamma, beta]).abs().max())
    assert swings[0] > 0
    assert swings[1] / swings[0] == pytest.approx(0.1, rel=0.05)


def test_query_is_continuous_in_scale():
    neck = make_neck()
    feats = make_feats()
    scales = torch.linspace(0, 1, 301)
    with torch.no_grad():
        q = neck.query(feats, scales)
    assert q.shape == (2, 301, 16)
    steps = (q[:, 1:] - q[:, :-1]).norm(dim=-1)  # [B, 300]
    # Lipschitz: a step of 1/300 in s moves the features by a small, bounded amount, and
    # halving the step roughly halves the change (no jumps at level boundaries 1/3, 2/3).
    assert steps.max() < 0.1 * q.norm(dim=-1).mean()
    with torch.no_grad():
        fine = neck.query(feats, torch.linspace(0, 1, 601))
    fine_steps = (fine[:, 1:] - fine[:, :-1]).norm(dim=-1)
    assert fine_steps.max() < 0.6 * steps.max()


def test_query_matches_the_mean_of_the_dense_field_at_level_scales():
    neck = make_neck()
    feats = make_feats()
    with torch.no_grad():
        q = neck.query(feats, [1 / 3, 2 / 3, 1.0, 4 / 3])
        dense = neck(feats)[:4]
    for k, d in enumerate(dense):
        torch.testing.assert_close(q[:, k], d.mean(dim=(2, 3)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    'scale, lower, weight',
    [(0.1, 0, 0.3), (0.5, 1, 0.5), (0.6, 1, 0.8), (0.9, 2, 0.7)],
)
@pytest.mark.parametrize('modulated', [False, True])
def test_query_between_levels_blends_their_means_linearly_in_log_stride(
    scale, lower, weight, modulated
):
    # Levels sit at scales 0, 1/3, 2/3, 1: s = 0.5 is halfway between 1/3 and 2/3, s = 0.1 is
    # 0.3 of the way from 0 to 1/3. Unmodulated (untrained FiLM), the query is the blend itself.
    neck = make_neck()
    if not modulated:
        neck.init_weights()
    feats = make_feats()
    with torch.no_grad():
        means = [level.mean(dim=(2, 3)) for level in neck.build_levels(feats)]
        q = neck.query(feats, [scale])[:, 0]
        gamma, beta = neck.modulation(torch.tensor(scale))
    expected = (1 - weight) * means[lower] + weight * means[lower + 1]
    if modulated:
        assert gamma.abs().max() > 0.01
        expected = expected * (1 + gamma) + beta
    torch.testing.assert_close(q, expected, atol=1e-5, rtol=1e-5)


def test_sample_returns_per_box_features_at_box_scale():
    neck = make_neck(roi_size=5)
    feats = make_feats(size=(64, 96))
    boxes = torch.tensor(
        [
            [[10.0, 10.0, 18.0, 18.0], [20.0, 8.0, 60.0, 48.0], [0.0, 0.0, 96.0, 64.0]],
            [[5.0, 5.0, 9.0, 9.0], [30.0, 30.0, 40.0, 36.0], [1.0, 2.0, 3.0, 4.0]],
        ]
    )
    with torch.no_grad():
        out = neck.sample(feats, boxes)
        scales = neck.box_scales(boxes)
    assert out.shape == (2, 3, 16, 5, 5)
    # An 8 px box (box_scale_ref) maps to stride 4; a 32 px box to stride 16; huge ones clamp.
    assert scales[0, 0] == pytest.approx(0.0)
    assert scales[0, 1] == pytest.approx(stride_to_scale(4 * 40 / 8))
    assert scales[0, 2] == pytest.approx(1.0)


def test_sample_at_a_level_scale_equals_roi_align_on_that_level():
    from mmcv.ops import roi_align

    neck = make_neck(roi_size=4)
    feats = make_feats(batch=1)
    box = torch.tensor([[[16.0, 8.0, 48.0, 40.0]]])  # 32 px -> scale 2/3 (stride 16), level 2
    with torch.no_grad():
        levels = neck.build_levels(feats)
        out = neck.box_sampler(levels)(box)[0, 0]
        rois = torch.cat([torch.zeros(1, 1), box[0]], dim=1)
        ref = roi_align(levels[2], rois, (4, 4), 1 / 16, 1, 'avg', True)[0]
        gamma, beta = neck.modulation(torch.tensor(2 / 3))
    torch.testing.assert_close(
        out, ref * (1 + gamma[:, None, None]) + beta[:, None, None], atol=1e-5, rtol=1e-4
    )


@pytest.mark.parametrize('batch', [1, 3])
def test_box_sampler_matches_the_grid_sample_reference(batch):
    neck = make_neck(roi_size=5)
    feats = [f.requires_grad_() for f in make_feats(batch=batch, size=(64, 96))]
    torch.manual_seed(2)
    # Sub-pixel to larger-than-the-image boxes, some partly outside (border clamping).
    xy = torch.rand(batch, 40, 2) * torch.tensor([110.0, 80.0]) - 8
    boxes = torch.cat([xy, xy + torch.rand(batch, 40, 2) ** 3 * 120 + 0.2], dim=-1)
    levels = neck.build_levels(feats, max_scale=0.0)
    fast = neck.box_sampler(levels)(boxes)
    ref = neck.sample_levels_reference(levels, boxes)
    assert fast.shape == ref.shape == (batch, 40, 16, 5, 5)
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(ref)
    grads = [
        torch.autograd.grad((out * weights).sum(), feats, retain_graph=True) for out in (fast, ref)
    ]
    for fast_grad, ref_grad in zip(*grads):
        torch.testing.assert_close(fast_grad, ref_grad, atol=1e-5, rtol=1e-5)


def test_sample_is_continuous_in_box_size():
    neck = make_neck()
    feats = make_feats(batch=1)

    def max_step(num):
        sizes = torch.linspace(8, 64, num)
        boxes = torch.stack([40 - sizes / 2, 30 - sizes / 2, 40 + sizes / 2, 30 + sizes / 2], -1)
        with torch.no_grad():
            out = neck.sample(feats, boxes[None]).flatten(2)[0]  # [num, C*R*R]
        return (out[1:] - out[:-1]).norm(dim=-1).max()

    # Lipschitz in the box size, across the level boundaries too: halving the step halves the
    # largest change (a jump would not shrink).
    assert max_step(801) < 0.6 * max_step(401)


def test_gradients_reach_every_parameter_and_input():
    neck = make_neck().train()
    feats = [f.requires_grad_() for f in make_feats()]
    boxes = torch.tensor([[[10.0, 10.0, 30.0, 30.0]], [[0.0, 0.0, 64.0, 64.0]]])
    loss = (
        sum(o.square().mean() for o in neck(feats))
        + neck.sample(feats, boxes).mean()
        + neck.query(feats, [0.1, 0.5]).mean()
    )
    loss.backward()
    for name, p in neck.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in feats)


def test_drop_in_under_an_mmdet_dense_head():
    neck = make_neck()
    head = MODELS.build(
        dict(
            type='RetinaHead',
            num_classes=3,
            in_channels=16,
            feat_channels=16,
            stacked_convs=1,
            anchor_generator=dict(
                type='AnchorGenerator',
                octave_base_scale=4,
                scales_per_octave=1,
                ratios=[1.0],
                strides=[8, 16, 32, 64, 128],
            ),
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0.0, 0.0, 0.0, 0.0],
                target_stds=[1.0, 1.0, 1.0, 1.0],
            ),
        )
    )
    cls_scores, bbox_preds = head(neck(make_feats(size=(64, 96))))
    assert [tuple(c.shape[-2:]) for c in cls_scores] == [(8, 12), (4, 6), (2, 3), (1, 2), (1, 1)]
    assert cls_scores[0].shape[1] == 3 and bbox_preds[0].shape[1] == 4


def test_fourier_encoding_values_and_siren_shapes():
    enc = FourierScaleEncoding(num_bands=3)
    assert enc(torch.rand(5, 2)).shape == (5, 2, 7)
    # gamma(s) = [s, sin(2^k pi s), cos(2^k pi s)] for k = 0, 1, 2; at s = 1/6: angles pi/6,
    # pi/3, 2 pi/3.
    values = enc(torch.tensor([1 / 6]))[0]
    root3 = 3**0.5 / 2
    expected = torch.tensor([1 / 6, 0.5, root3, root3, root3, 0.5, -0.5])
    torch.testing.assert_close(values, expected)
    assert SirenMLP(7, 32, num_layers=2)(torch.rand(4, 7)).shape == (4, 32)


@pytest.mark.parametrize(
    'kwargs, match',
    [
        (dict(in_channels=(8, 16), in_strides=(4, 8, 16)), 'in_strides'),
        (dict(in_channels=(8, 16), in_strides=(4, 16)), 'double'),
        (dict(in_channels=(8, 16), in_strides=(8, 16), out_scales=(0.0,)), 'out_scales'),
    ],
)
def test_bad_configuration_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ContinuousScaleField(**kwargs)


def test_wrong_inputs_are_named():
    neck = make_neck()
    with pytest.raises(ValueError, match='expected 4 feature maps'):
        neck(make_feats()[:3])
    with pytest.raises(ValueError, match=r'boxes must be \[B=2, N, 4\]'):
        neck.sample(make_feats(), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r'boxes must be \[B=2, N, 4\]'):
        neck.sample(make_feats(), torch.zeros(1, 3, 4))
