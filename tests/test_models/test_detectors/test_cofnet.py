"""COFNet end to end: loss/predict on mmdet's demo inputs, FLOPs analysis, bad input."""

import copy

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config

CONFIG = 'configs/cofnet/cofnet_nano_sky-synth.py'


@pytest.fixture(scope='module')
def model_cfg(repo_root):
    cfg = Config.fromfile(f'{repo_root}/{CONFIG}').model
    cfg.bbox_head.update(num_stages=2, num_proposals=20)
    cfg.test_cfg.update(score_thr=0.0)
    return cfg


def build(model_cfg, **head):
    cfg = copy.deepcopy(model_cfg)
    cfg.bbox_head.update(head)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def batch(model, num_items=(3, 0)):
    data = demo_mm_inputs(2, [[3, 96, 128], [3, 64, 96]], num_items=list(num_items), num_classes=3)
    return model.data_preprocessor(data, training=True)


@pytest.mark.parametrize('diffusion', [True, False])
def test_loss_and_predict(model_cfg, diffusion):
    torch.manual_seed(0)
    model = build(model_cfg, diffusion=diffusion)
    data = batch(model)
    losses = model(**data, mode='loss')
    assert {'loss_cls', 'loss_bbox', 'loss_iou', 's0.loss_cls'} <= set(losses)
    sum(losses.values()).backward()
    assert model.backbone.patch_embed.conv1.weight.grad is not None  # gradients reach the stem
    assert model.neck.film.weight.grad.abs().sum() > 0  # and the field's scale modulation
    model.eval()
    with torch.no_grad():
        results = model(**data, mode='predict')
    assert len(results) == 2
    for sample in results:
        pred = sample.pred_instances
        assert pred.bboxes.shape[1] == 4 and len(pred.bboxes) == len(pred.scores) > 0
        assert pred.labels.max() < 3


def test_sampling_steps_switch_at_test_time(model_cfg):
    model = build(model_cfg).eval()
    data = batch(model)
    with torch.no_grad():
        model.bbox_head.test_cfg.sampling_steps = 1
        one = model._forward(data['inputs'])
        model.bbox_head.test_cfg.sampling_steps = 4
        four = model._forward(data['inputs'])
    assert one[0].shape == four[0].shape == (2, 20, 3)
    assert not torch.allclose(one[1], four[1])


@pytest.mark.slow
def test_flops_analysis_counts_the_head_and_grows_with_the_image(model_cfg):
    # DiffusionDet's get_flops fails: its forward needs more than the image. COFNet's _forward
    # takes the image alone, so mmengine's analysis traces the whole model, head included.
    model = build(model_cfg).eval()
    flops = {}
    for size in ((128, 160), (256, 320)):
        analyzer = FlopAnalyzer(model, (torch.randn(1, 3, *size),))
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        with torch.no_grad():
            flops[size] = analyzer.total(), analyzer.by_module()
    (small, small_modules), (large, large_modules) = flops.values()
    for i in range(len(model.bbox_head.stages)):
        stage = f'bbox_head.stages.{i}'
        assert small_modules[stage] > 0
        # The stages work on the N boxes, whatever the image size.
        assert large_modules[stage] == small_modules[stage]
    assert small_modules['bbox_head.objectness'] > 0
    # 4x the pixels (both sizes divide by 32): exactly 4x the backbone's FLOPs.
    assert large > 2 * small
    assert large_modules['backbone'] == 4 * small_modules['backbone']


def test_non_finite_predictions_give_nan_losses_and_are_named_before_post_processing(model_cfg):
    model = build(model_cfg)
    data = batch(model)
    data['data_samples'][0].set_metainfo(dict(img_path='sky/frame_17.jpg'))
    with torch.no_grad():
        model.bbox_head.stages[-1].cls_out.bias.fill_(float('nan'))
    losses = model(**data, mode='loss')  # no matching on NaN: SkipNonFiniteOptimWrapper skips
    assert all(torch.isnan(losses[k]) for k in ('loss_cls', 'loss_bbox', 'loss_iou'))
    assert torch.isfinite(losses['s0.loss_cls']) and torch.isfinite(losses['loss_objectness'])
    with pytest.raises(
        FloatingPointError,
        match=r"non-finite predictions of step 0 before post-processing \['cls_logits'\] on "
        r"images \['sky/frame_17\.jpg'",
    ):
        model.eval()(**data, mode='predict')


def test_objectness_map_sits_on_the_finest_field_level(repo_root):
    cfg = Config.fromfile(f'{repo_root}/configs/cofnet/cofnet_small_sky-synth.py').model
    cfg.bbox_head.update(num_stages=1, num_proposals=10)
    model = MODELS.build(cfg)
    assert model.neck.in_strides[0] == 4 and model.bbox_head.objectness.stride == 4


def test_neck_must_be_a_scale_field(model_cfg):
    cfg = copy.deepcopy(model_cfg)
    cfg.neck = dict(type='FPN', in_channels=[64, 128, 256], out_channels=96, num_outs=3)
    with pytest.raises(TypeError, match='ContinuousScaleField'):
        MODELS.build(cfg)


@pytest.mark.parametrize(
    'config, fixture',
    [
        ('configs/cofnet/cofnet_nano_halmstad.py', 'cofnet_nano_state_dict.txt'),
        (
            'configs/cofnet/cofnet_nano-single-shot_halmstad.py',
            'cofnet_nano-single-shot_state_dict.txt',
        ),
    ],
)
def test_checkpoints_from_before_the_head_split_load(repo_root, config, fixture):
    # The fixture lists the state-dict keys and shapes of the model before the head was split
    # into ObjectnessMap, SetCriterion and DDIMBoxSampler. A checkpoint with exactly those keys
    # loads strictly, and the new keys differ only by the map's named layers.
    with open(f'{repo_root}/tests/fixtures/{fixture}') as f:
        rows = [line.split() for line in f if not line.startswith('#')]
    old = {
        key: torch.randn([int(n) for n in shape.split('x')] if shape != 'scalar' else [])
        for key, shape in rows
    }
    model = MODELS.build(Config.fromfile(f'{repo_root}/{config}').model)
    model.load_state_dict(old)  # strict
    torch.testing.assert_close(
        model.bbox_head.objectness.out.weight, old['bbox_head.objectness.2.weight']
    )
    new = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    assert new == {_renamed(key): tuple(value.shape) for key, value in old.items()}


def _renamed(key):
    return key.replace('objectness.0.', 'objectness.conv.').replace(
        'objectness.2.', 'objectness.out.'
    )
