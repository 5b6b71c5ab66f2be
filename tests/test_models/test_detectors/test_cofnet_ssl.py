"""COFNetSSL and SkyPairDataPreprocessor: frame-pair batches, losses, state-dict keys."""

import copy

import pytest
import torch
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import PixelData

from mmcofnet.models.data_preprocessors import SkyPairDataPreprocessor

NANO = 'configs/_base_/models/cofnet_nano.py'
COFNET = 'configs/cofnet/cofnet_nano_sky-synth.py'
PREPROCESS = dict(
    mean=[103.53, 116.28, 123.675],
    std=[57.375, 57.12, 58.395],
    bgr_to_rgb=True,
    pad_size_divisor=32,
)
PREFIXES = ('backbone.', 'neck.', 'bbox_head.objectness.')


def pair_batch(sizes=((64, 64), (64, 64)), shift=(4, 2), seed=0):
    """Frame pairs with a bright 6x6 square that moves by ``shift`` (dx, dy) over dim noise."""
    gen = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for i, (h, w) in enumerate(sizes):
        frame_t = torch.randint(0, 40, (3, h, w), dtype=torch.uint8, generator=gen)
        frame_k = torch.randint(0, 40, (3, h, w), dtype=torch.uint8, generator=gen)
        y, x = 12 + 8 * i, 20
        dx, dy = shift
        frame_t[:, y : y + 6, x : x + 6] = 255
        frame_k[:, y + dy : y + dy + 6, x + dx : x + dx + 6] = 255
        mask, flow = torch.zeros(1, h, w), torch.zeros(2, h, w)
        mask[:, y : y + 6, x : x + 6] = 1
        flow[0, y : y + 6, x : x + 6], flow[1, y : y + 6, x : x + 6] = dx, dy
        sample = DetDataSample(
            metainfo=dict(
                img_path=f'clip/{i:06d}.png',
                frame_index=i,
                frame_gap=1,
                img_shape=(h, w),
                ori_shape=(h, w),
                pad_shape=(h, w),
                scale_factor=(1.0, 1.0),
            )
        )
        sample.motion_mask = PixelData(data=mask)
        sample.flow = PixelData(data=flow)
        inputs.append(torch.cat([frame_t, frame_k]))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    # Tiny models: a second intra-op thread only adds spinning (x50 CPU time on a busy machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- data preprocessor ----------------------------------------------------------------------


@pytest.mark.parametrize('stacked', [False, True])
def test_each_frame_is_preprocessed_as_det_data_preprocessor_would(stacked):
    data = pair_batch(sizes=((40, 50), (33, 70)))
    if stacked:  # default_collate: same-size pairs in one tensor
        data = pair_batch(sizes=((40, 50), (40, 50)))
        data['inputs'] = torch.stack(data['inputs'])
    pair = SkyPairDataPreprocessor(**PREPROCESS)
    single = DetDataPreprocessor(**PREPROCESS)
    out = pair(copy.deepcopy(data), training=True)
    assert out['inputs'].shape == (2, 6, 64, 64 if stacked else 96)
    for half, channels in ((slice(0, 3), slice(0, 3)), (slice(3, 6), slice(3, 6))):
        frames = dict(
            inputs=[x[channels] for x in data['inputs']],
            data_samples=copy.deepcopy(data['data_samples']),
        )
        expected = single(frames, training=True)
        assert torch.equal(out['inputs'][:, half], expected['inputs'])
        for got, want in zip(out['data_samples'], expected['data_samples']):
            assert got.batch_input_shape == want.batch_input_shape
            assert got.pad_shape == want.pad_shape
    # The motion targets are left as they came (the detector pads them).
    assert out['data_samples'][1].motion_mask.shape == data['data_samples'][1].motion_mask.shape


def test_preprocessor_refuses_single_frames_and_batch_augments():
    with pytest.raises(ValueError, match=r'inputs\[0\] must be a \[6, H, W\]'):
        SkyPairDataPreprocessor(**PREPROCESS)(dict(inputs=[torch.zeros(3, 8, 8)]))
    with pytest.raises(ValueError, match='batch_augments'):
        SkyPairDataPreprocessor(
            **PREPROCESS,
            batch_augments=[dict(type='BatchSyncRandomResize', random_size_range=(32, 64))],
        )


# -- detector ---------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def ssl_cfg(repo_root):
    nano = Config.fromfile(f'{repo_root}/{NANO}').model
    backbone = dict(nano.backbone, drop_path_rate=0.0)
    return dict(
        type='COFNetSSL',
        data_preprocessor=dict(type='SkyPairDataPreprocessor', **PREPROCESS),
        backbone=backbone,
        neck=nano.neck,
        objectness=dict(type='ObjectnessMap', num_classes=3),
    )


def build(cfg, **kwargs):
    torch.manual_seed(0)
    model = MODELS.build(dict(copy.deepcopy(cfg), **kwargs))
    model.init_weights()
    return model


def test_state_dict_keys_are_cofnets(ssl_cfg, repo_root):
    ssl = build(ssl_cfg)
    cofnet = MODELS.build(Config.fromfile(f'{repo_root}/{COFNET}').model)
    ssl_shapes = {k: v.shape for k, v in ssl.state_dict().items()}
    cofnet_shapes = {k: v.shape for k, v in cofnet.state_dict().items() if k.startswith(PREFIXES)}
    assert ssl_shapes == cofnet_shapes
    assert any(k.startswith('bbox_head.objectness.') for k in ssl_shapes)
    assert ssl.objectness.stride == 8 and ssl.objectness.out.in_channels == 96


def test_each_loss_reaches_the_backbone(ssl_cfg):
    model = build(ssl_cfg)
    data = model.data_preprocessor(pair_batch(), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_motion', 'loss_temporal'}
    for name in ('loss_motion', 'loss_temporal'):
        model.zero_grad()
        assert losses[name].item() > 0
        losses[name].backward(retain_graph=True)
        grad = model.backbone.patch_embed.conv1.weight.grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_loss_weights_scale_the_losses(ssl_cfg):
    model = build(ssl_cfg, loss_weights=dict(temporal=2.0))
    assert model.loss_weights == {'motion': 0.5, 'temporal': 2.0}
    data = model.data_preprocessor(pair_batch(), training=True)
    with torch.no_grad():
        before = model(**data, mode='loss')
        model.loss_weights.update(motion=1.0, temporal=0.0)
        after = model(**data, mode='loss')
    assert after['loss_motion'].item() == pytest.approx(2 * before['loss_motion'].item(), rel=1e-5)
    assert after['loss_temporal'].item() == 0
    with pytest.raises(ValueError, match="unknown keys \\['tempral'\\]"):
        build(ssl_cfg, loss_weights=dict(tempral=1.0))


def test_a_few_steps_lower_the_total_loss(ssl_cfg):
    model = build(ssl_cfg)
    data = model.data_preprocessor(pair_batch(), training=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    totals = []
    for _ in range(5):
        total = sum(model(**data, mode='loss').values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        totals.append(total.item())
    assert totals[-1] < 0.5 * totals[0], totals


def test_predict_and_forward(ssl_cfg):
    model = build(ssl_cfg, test_cfg=dict(num_peaks=5)).eval()
    data = model.data_preprocessor(pair_batch(sizes=((64, 64), (48, 64))), training=False)
    with torch.no_grad():
        results = model(**data, mode='predict')
        logits = model._forward(data['inputs'])
        single = model._forward(data['inputs'][:, :3])
    assert logits.shape == (2, 7, 8, 8) and torch.equal(logits, single)
    for sample in results:
        pred = sample.pred_instances
        assert 0 < len(pred.bboxes) <= 5 and pred.bboxes.shape[1] == 4
        assert (pred.scores > 0).all()  # positions that are no local maximum are dropped
        assert (pred.labels == 0).all() and (pred.scores[:-1] >= pred.scores[1:]).all()


def test_bad_batches_are_refused(ssl_cfg):
    model = build(ssl_cfg)
    data = model.data_preprocessor(pair_batch(), training=True)
    with pytest.raises(ValueError, match=r'\[B, 6, H, W\] frame pairs'):
        model(data['inputs'][:, :3], data['data_samples'], mode='loss')
    del data['data_samples'][1].flow
    with pytest.raises(KeyError, match="clip/000001.png' has no 'flow'"):
        model(**data, mode='loss')
