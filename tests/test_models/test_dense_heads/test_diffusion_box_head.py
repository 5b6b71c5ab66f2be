"""DiffusionBoxHead: losses, DDIM sampling per image, repeatability, single-shot variant."""

import math

import pytest
import torch
from conftest import objectness_logits
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmcofnet.models.necks import ContinuousScaleField, FieldFeatures
from mmcofnet.models.task_modules import decode_boxes, encode_boxes

IMG_HW = [(64, 96), (48, 80)]


def make_head(**kwargs):
    cfg = dict(
        type='DiffusionBoxHead',
        num_classes=3,
        feat_channels=16,
        roi_size=3,
        embed_dims=32,
        num_heads=2,
        num_stages=2,
        ffn_dims=64,
        num_proposals=12,
        prediction='x0',
        test_cfg=dict(score_thr=0.0),
    )
    cfg.update(kwargs)
    head = MODELS.build(cfg)
    head.init_weights()
    return head


@pytest.fixture(scope='module')
def field():
    torch.manual_seed(0)
    neck = ContinuousScaleField(
        [8, 16], out_channels=16, in_strides=[8, 16], out_scales=[1 / 3, 2 / 3], roi_size=3
    ).eval()
    feats = [torch.randn(2, 8, 8, 12), torch.randn(2, 16, 4, 6)]
    return neck, feats


def sampler_for(field, images=(0, 1)):
    neck, feats = field
    levels = neck.build_levels([f[list(images)] for f in feats], max_scale=0.0)
    return FieldFeatures(levels, neck.box_sampler(levels))


def samples(gt_boxes=((10, 10, 20, 18), (30, 5, 40, 30)), images=(0, 1)):
    out = []
    for i in images:
        h, w = IMG_HW[i]
        s = DetDataSample(
            metainfo=dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0), img_id=i)
        )
        boxes = torch.tensor(gt_boxes, dtype=torch.float32).view(-1, 4)
        s.gt_instances = InstanceData(bboxes=boxes, labels=torch.arange(len(boxes)) % 3)
        out.append(s)
    return out


@pytest.mark.parametrize('prediction', ['noise', 'x0'])
def test_losses_of_every_stage_are_finite_and_reach_every_stage(field, prediction):
    head = make_head(prediction=prediction)
    losses = head.loss(sampler_for(field), samples())
    expected = {'loss_cls', 'loss_bbox', 'loss_iou'} | (
        {'loss_noise'} if prediction == 'noise' else set()
    )
    assert set(losses) == expected | {f's0.{k}' for k in expected} | {
        'loss_objectness',
        'loss_objectness_size',
        'loss_objectness_offset',
    }
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    for stage in head.stages:
        assert stage.cls_out.weight.grad.abs().sum() > 0


def test_denoiser_sees_box_geometry_in_pixels_not_image_fractions(field):
    # Trained on 320-px crops, tested on full frames: the same box must embed the same way
    # whatever the image size (the features are the same here: only the image size differs).
    head = make_head()
    for stage in head.stages:  # non-zero box deltas, so that the boxes depend on the queries
        torch.nn.init.normal_(stage.reg_out.weight, std=0.1)
    sampler = sampler_for(field, images=(0,)).sample
    boxes = torch.tensor([[[10.0, 10, 20, 18], [30, 5, 40, 30]]])
    t = torch.tensor([7])
    with torch.no_grad():
        crop = head.denoise(sampler, boxes, torch.tensor([[[96.0, 64.0]]]), t)
        frame = head.denoise(sampler, boxes, torch.tensor([[[1088.0, 736.0]]]), t)
    for (cls_a, box_a, _), (cls_b, box_b, _) in zip(crop, frame):
        torch.testing.assert_close(cls_a, cls_b)
        torch.testing.assert_close(box_a, box_b)
    assert not torch.allclose(crop[-1][1], boxes)  # the stages did move the boxes
    with torch.no_grad():  # and the embedding does see the geometry
        moved = head.denoise(sampler, boxes * 1.5, torch.tensor([[[96.0, 64.0]]]), t)
    assert not torch.allclose(moved[0][0], crop[0][0])


def test_empty_ground_truth_gives_background_only_losses(field):
    head = make_head()
    losses = head.loss(sampler_for(field), samples(gt_boxes=()))
    assert losses['loss_cls'] > 0
    assert losses['loss_bbox'] == 0 and losses['loss_iou'] == 0
    assert losses['loss_objectness'] > 0  # every position is background
    sum(losses.values()).backward()  # still a graph: empty images train the classifier


def test_renewal_restarts_dropped_boxes_at_the_next_unused_peaks(field):
    # renewal_thr=1 drops every box after step 1; the stages keep the boxes they are given
    # (zero-initialised box outputs), so step 2 returns where the renewed boxes restarted.
    head = make_head(
        test_cfg=dict(
            prior_proposals=2, prior_t=7, sampling_steps=2, eta=0.0, renewal_thr=1.0, score_thr=0.0
        )
    ).eval()
    peaks = {(1, 2): 6.0, (2, 8): 5.0, (5, 4): 4.0, (6, 10): 3.0}  # strongest first
    logits = objectness_logits({yx: (v, 0.0, 0.0) for yx, v in peaks.items()}).repeat(2, 1, 1, 1)
    with torch.no_grad():
        steps = head.sample(sampler_for(field).sample, torch.tensor([[[96.0, 64.0]]] * 2), logits)
    centres = [[(x + 0.5) * 8, (y + 0.5) * 8] for y, x in peaks]
    boxes = torch.tensor([[cx - 4, cy - 4, cx + 4, cy + 4] for cx, cy in centres])
    torch.testing.assert_close(
        steps[0][1][:, :2], boxes[None, :2].expand(2, -1, -1), atol=1e-3, rtol=0
    )
    torch.testing.assert_close(
        steps[1][1][:, :2], boxes[None, 2:].expand(2, -1, -1), atol=1e-3, rtol=0
    )


def test_objectness_prior_starts_sampling_at_the_peaks(field):
    head = make_head(test_cfg=dict(prior_proposals=3, prior_t=7, eta=0.0, score_thr=0.0))
    head.eval()
    # The first box starts exactly at the peak, and the stages, whose box outputs start at zero,
    # keep it.
    logits = objectness_logits({(2, 3): (5.0, math.log(2.0), math.log(2.0))}).repeat(2, 1, 1, 1)
    with torch.no_grad():
        steps = head.sample(sampler_for(field).sample, torch.tensor([[[96.0, 64.0]]] * 2), logits)
    assert len(steps) == 1
    torch.testing.assert_close(
        steps[0][1][:, 0], torch.tensor([[20.0, 12.0, 36.0, 28.0]] * 2), atol=1e-3, rtol=0
    )


def test_single_shot_variant_can_start_from_the_peaks(field):
    head = make_head(diffusion=False, test_cfg=dict(prior_proposals=2, score_thr=0.0)).eval()
    logits = objectness_logits({(2, 3): (5.0, math.log(2.0), math.log(2.0))}).repeat(2, 1, 1, 1)
    with torch.no_grad():
        boxes = head.sample(sampler_for(field).sample, torch.tensor([[[96.0, 64.0]]] * 2), logits)[
            0
        ][1]
    torch.testing.assert_close(boxes[:, 0], torch.tensor([[20.0, 12.0, 36.0, 28.0]] * 2))


def test_objectness_score_fuses_the_map_into_the_detections(field):
    head = make_head(test_cfg=dict(objectness_score=True, score_thr=0.0)).eval()
    with torch.no_grad():
        head.objectness.out.bias[:3].fill_(-10.0)  # a map that sees no object anywhere
        fused = head.predict(sampler_for(field), samples())[0]
        head.test_cfg.objectness_score = False
        plain = head.predict(sampler_for(field), samples())[0]
    # Class probabilities start near 0.01; fused with a map of about 5e-5 they drop 10x.
    assert fused.scores.max() < 0.1 * plain.scores.max()


def test_objectness_map_is_optional(field):
    head = make_head(loss_objectness=None)
    assert head.objectness is None
    assert 'loss_objectness' not in head.loss(sampler_for(field), samples())


@pytest.mark.parametrize('pad_with', ['random', 'repeat'])
def test_noised_targets_pad_the_ground_truth(pad_with):
    head = make_head(train_cfg=dict(pad_with=pad_with))
    gt = [torch.tensor([[10.0, 10, 20, 18], [30, 5, 40, 30]]), torch.zeros(0, 4)]
    img_wh = torch.tensor([[[96.0, 64.0]], [[80.0, 48.0]]])
    x0, noise, x_t, t = head.noised_targets(gt, img_wh)
    assert x0.shape == noise.shape == x_t.shape == (2, 12, 4) and t.shape == (2,)
    torch.testing.assert_close(x0[0, :2], encode_boxes(gt[0], img_wh[0], 2.0))
    repeated = torch.isclose(x0[0, 2:], x0[0, :2].repeat(5, 1)).all()
    assert bool(repeated) == (pad_with == 'repeat')
    assert x_t.abs().max() <= 2.0


def test_start_at_peaks_starts_as_sampling_does_at_test_time():
    head = make_head(
        train_cfg=dict(prior_prob=1.0, pad_with='repeat'),
        test_cfg=dict(prior_proposals=12, prior_t=7),
    )
    gt = [torch.tensor([[10.0, 10, 20, 18], [30, 5, 40, 30]])]
    img_wh = torch.tensor([[[96.0, 64.0]]])
    x0, noise, x_t, t = head.noised_targets(gt, img_wh)
    objectness = objectness_logits({(3, 5): (4.0, math.log(2.0), 0.0)})
    started, steps = head.start_at_peaks(objectness, x0, noise, x_t, t, img_wh, [2])
    assert steps.tolist() == [7]
    # The objects first, noised to step 7 (a fraction of a pixel here) ...
    torch.testing.assert_close(started[0, :2], head.schedule.q_sample(x0, steps, noise)[0, :2])
    torch.testing.assert_close(
        decode_boxes(started[:, :2], img_wh, 2.0)[0], gt[0], atol=1.5, rtol=0
    )
    # ... then the map's peaks, strongest first: the peak at cell (5, 3), 16 x 8 px around the
    # centre (5.5, 3.5) strides = (44, 28) px.
    peaks = decode_boxes(started[:, 2:], img_wh, 2.0)[0]
    torch.testing.assert_close(peaks[0], torch.tensor([36.0, 24, 52, 32]))
    expected, _ = head.objectness.peaks(objectness, 10)
    torch.testing.assert_close(peaks, expected[0], atol=1e-4, rtol=0)


def test_start_at_peaks_is_off_by_default_and_checked():
    head = make_head()
    x = torch.randn(1, 12, 4)
    t = torch.tensor([500])
    started, steps = head.start_at_peaks(
        objectness_logits({(3, 5): (4.0, math.log(2.0), 0.0)}),
        x,
        x,
        x,
        t,
        torch.tensor([[[96.0, 64.0]]]),
        [1],
    )
    assert started is x and steps is t
    for kwargs in (
        dict(prediction='noise'),
        dict(diffusion=False),
        dict(loss_objectness=None),
        dict(),
    ):
        prob = 1.5 if not kwargs else 0.5
        with pytest.raises(ValueError, match='prior_prob'):
            make_head(train_cfg=dict(prior_prob=prob), **kwargs)


def test_losses_with_every_image_started_at_the_peaks(field):
    head = make_head(train_cfg=dict(prior_prob=1.0), test_cfg=dict(prior_proposals=12))
    losses = head.loss(sampler_for(field), samples())
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert head.objectness.conv.weight.grad.abs().sum() > 0
    assert head.stages[0].cls_out.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('steps', [1, 4])
def test_batched_sampling_returns_each_images_own_results(field, steps):
    # DiffusionDet returns the last image's boxes for every image once steps > 1.
    head = make_head(test_cfg=dict(sampling_steps=steps, score_thr=0.0)).eval()
    with torch.no_grad():
        batched = head.predict(sampler_for(field), samples())
        alone = [head.predict(sampler_for(field, (i,)), samples(images=(i,)))[0] for i in (0, 1)]
    for got, want in zip(batched, alone):
        assert len(got) > 0
        torch.testing.assert_close(got.bboxes, want.bboxes, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(got.scores, want.scores, atol=1e-5, rtol=1e-4)
        assert torch.equal(got.labels, want.labels)
    # Boxes stay inside each image's own size.
    for got, (h, w) in zip(batched, IMG_HW):
        assert got.bboxes[:, 2].max() <= w and got.bboxes[:, 3].max() <= h


def test_sampling_is_repeatable_under_a_seed_and_changes_with_it(field):
    head = make_head(test_cfg=dict(sampling_steps=2, score_thr=0.0)).eval()
    with torch.no_grad():
        first = head.predict(sampler_for(field), samples())[0]
        torch.rand(100)  # the global generator does not matter
        second = head.predict(sampler_for(field), samples())[0]
        head.test_cfg.seed = 1
        other = head.predict(sampler_for(field), samples())[0]
    torch.testing.assert_close(first.bboxes, second.bboxes)
    assert first.bboxes.shape != other.bboxes.shape or not torch.allclose(
        first.bboxes, other.bboxes
    )


def test_ensemble_collects_every_step_before_nms(field):
    head = make_head(
        test_cfg=dict(sampling_steps=3, score_thr=0.0, nms=None, max_per_img=200)
    ).eval()
    with torch.no_grad():
        img_wh = torch.tensor([[[96.0, 64.0]], [[80.0, 48.0]]])
        steps = head.sample(sampler_for(field).sample, img_wh)
        assert len(steps) == 3
        # Top 36 (box, class) pairs per step; clipping to the image can leave a few empty boxes.
        assert 2 * 36 < len(head.predict(sampler_for(field), samples())[0]) <= 3 * 36
        head.test_cfg.ensemble = False
        assert 0 < len(head.predict(sampler_for(field), samples())[0]) <= 36


def test_rescale_maps_boxes_to_the_original_image(field):
    head = make_head(test_cfg=dict(score_thr=0.0)).eval()
    data = samples()
    data[0].set_metainfo(dict(scale_factor=(0.5, 0.5)))
    with torch.no_grad():
        plain = head.predict(sampler_for(field), data, rescale=False)[0]
        rescaled = head.predict(sampler_for(field), data, rescale=True)[0]
    torch.testing.assert_close(rescaled.bboxes, plain.bboxes * 2)


def test_single_shot_variant_uses_learned_proposals(field):
    head = make_head(diffusion=False)
    assert not hasattr(head, 'time_embed') and head.proposal_boxes.shape == (12, 4)
    losses = head.loss(sampler_for(field), samples())
    assert 'loss_noise' not in losses
    sum(losses.values()).backward()
    assert head.proposal_feats.weight.grad is not None
    head.eval()
    with torch.no_grad():
        first = head.predict(sampler_for(field), samples())
        assert len(head.sample(sampler_for(field).sample, torch.tensor([[[96.0, 64.0]]] * 2))) == 1
        again = head.predict(sampler_for(field), samples())
    torch.testing.assert_close(first[1].bboxes, again[1].bboxes)


@pytest.mark.slow  # 60 training steps: 20-40 s on 2 CPU cores
def test_loss_goes_down_when_overfitting_one_batch(field):
    torch.manual_seed(0)
    head = make_head(num_proposals=8, train_cfg=dict(match_times=2))
    neck, feats = field
    opt = torch.optim.AdamW(list(head.parameters()) + list(neck.parameters()), lr=2e-3)
    data = samples()
    history = []
    for _ in range(60):
        levels = neck.build_levels(feats, max_scale=0.0)
        losses = head.loss(FieldFeatures(levels, neck.box_sampler(levels)), data)
        total = sum(losses.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        history.append(total.item())
    assert sum(history[-10:]) / 10 < 0.75 * sum(history[:10]) / 10


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="prediction='eps'"):
        make_head(prediction='eps')
    # At build time, not at the first validation after training.
    with pytest.raises(ValueError, match='sampling_steps=0'):
        make_head(test_cfg=dict(sampling_steps=0))
    with pytest.raises(ValueError, match='sampling_steps=9'):  # from prior_t=7: at most 8 steps
        make_head(test_cfg=dict(prior_proposals=10, prior_t=7, sampling_steps=9))
    with pytest.raises(ValueError, match=r"unknown test_cfg keys \['sampling_stepz'\]"):
        make_head(test_cfg=dict(sampling_stepz=4))  # a typo is not ignored
    with pytest.raises(ValueError, match=r"unknown train_cfg keys \['match_time'\]"):
        make_head(train_cfg=dict(match_time=4))
    with pytest.raises(ValueError, match="pad_with='copies'"):
        make_head(train_cfg=dict(pad_with='copies'))
    make_head(diffusion=False, test_cfg=dict(sampling_steps=0))  # single-shot: no sampling steps


def test_noise_prediction_turns_the_predicted_noise_into_boxes(field):
    # prediction='noise': the stages predict eps and the boxes are x0 = (x_t - sqrt(1 - ab) eps)
    # / sqrt(ab). The box outputs start at zero, so eps = 0 and x0 = x_t / sqrt(ab).
    head = make_head(prediction='noise', test_cfg=dict(box_renewal=False, eta=0.0)).eval()
    img_wh = torch.tensor([[[96.0, 64.0]]] * 2)
    with torch.no_grad():
        steps = head.sample(sampler_for(field).sample, img_wh)
    x_t = torch.randn(12, 4, generator=torch.Generator().manual_seed(0))  # test_cfg.seed 0
    x0 = x_t / head.schedule.alphas_cumprod[999].sqrt()
    torch.testing.assert_close(steps[0][1], decode_boxes(x0[None].expand(2, -1, -1), img_wh, 2.0))


@pytest.mark.parametrize('power, share_below_half', [(1.0, 0.5), (6.0, 0.5 ** (1 / 6))])
def test_timestep_power_favours_small_steps(power, share_below_half):
    # t = T u ** power with u uniform: P(t < T / 2) = (1 / 2) ** (1 / power).
    torch.manual_seed(0)
    head = make_head(train_cfg=dict(timestep_power=power))
    gts = [torch.zeros(0, 4)] * 4000
    _, _, _, t = head.noised_targets(gts, torch.tensor([[[96.0, 64.0]]]).expand(4000, 1, 2))
    assert (t < 500).float().mean() == pytest.approx(share_below_half, abs=0.03)
    assert t.min() >= 0 and t.max() < 1000


def test_step_embedding_changes_the_stages_outputs(field):
    head = make_head()
    for stage in head.stages:  # non-zero box deltas, so that the boxes depend on the queries
        torch.nn.init.normal_(stage.reg_out.weight, std=0.1)
    sampler = sampler_for(field, images=(0,)).sample
    boxes = torch.tensor([[[10.0, 10, 20, 18], [30, 5, 40, 30]]])
    img_wh = torch.tensor([[[96.0, 64.0]]])
    early = head.denoise(sampler, boxes, img_wh, torch.tensor([900]))[-1]
    late = head.denoise(sampler, boxes, img_wh, torch.tensor([10]))[-1]
    assert not torch.allclose(early[0], late[0]) and not torch.allclose(early[1], late[1])
    (early[0].sum() + early[1].sum()).backward()
    assert head.time_embed[0].weight.grad.abs().sum() > 0


def test_boxes_are_clipped_to_the_frame_not_to_its_padding(field):
    # Pad makes img_shape the padded size: boxes must stop at the frame (ori_shape x scale).
    head = make_head(test_cfg=dict(score_thr=0.0, nms=None)).eval()
    sample = DetDataSample(
        metainfo=dict(img_shape=(64, 96), ori_shape=(25, 40), scale_factor=(2.0, 2.0), img_id=0)
    )
    with torch.no_grad():
        for rescale, (h, w) in ((False, (50, 80)), (True, (25, 40))):
            boxes = head.predict(sampler_for(field, images=(0,)), [sample], rescale=rescale)[0]
            assert len(boxes.bboxes) > 0
            assert boxes.bboxes[:, 2].max() <= w and boxes.bboxes[:, 3].max() <= h
            assert boxes.bboxes.min() >= 0


def test_non_finite_boxes_are_named_before_the_field_is_sampled(field):
    head = make_head().eval()
    boxes = torch.tensor([[[10.0, 10, 20, 18], [30, 5, float('nan'), 30]]])
    args = (sampler_for(field, images=(0,)).sample, boxes, torch.tensor([[[96.0, 64.0]]]))
    with pytest.raises(FloatingPointError, match='non-finite boxes before stage 0'):
        head.denoise(*args, torch.tensor([7]))
    # Training: no error, the stage's class logits are NaN (its losses too: the step is skipped).
    outputs = head.train().denoise(*args, torch.tensor([7]))
    assert torch.isnan(outputs[0][0]).all()
