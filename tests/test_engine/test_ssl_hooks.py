"""SSLLossWeightHook's schedule and PretrainedWeightsHook's export (fake runners, no training)."""

import os
from types import SimpleNamespace

import pytest
import torch
from mmdet.registry import HOOKS, MODELS
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.runner import load_checkpoint
from torch import nn

from mmcofnet.engine.hooks import PretrainedWeightsHook, SSLLossWeightHook

NANO = 'configs/_base_/models/cofnet_nano.py'
COFNET = 'configs/cofnet/cofnet_nano_sky-synth.py'
PREFIXES = ('backbone.', 'neck.', 'bbox_head.objectness.')


# -- loss-weight schedule -------------------------------------------------------------------


def weight_runner(iteration, weights=None):
    model = SimpleNamespace(loss_weights=dict(weights or {'motion': 0.5, 'temporal': 1.0}))
    hub = MessageHub.get_instance('test_ssl_loss_weight_hook')
    return SimpleNamespace(iter=iteration, model=model, message_hub=hub)


@pytest.mark.parametrize(
    'iteration, expected', [(0, 0.0), (99, 0.0), (100, 0.0), (150, 0.5), (175, 0.75), (200, 1.0)]
)
def test_schedule_ramps_linearly_from_start_to_end(iteration, expected):
    hook = HOOKS.build(
        dict(type='SSLLossWeightHook', schedule=dict(temporal=dict(start=100, end=200, value=1.0)))
    )
    runner = weight_runner(iteration)
    hook.before_train_iter(runner, batch_idx=iteration)
    assert runner.model.loss_weights == {'motion': 0.5, 'temporal': pytest.approx(expected)}
    assert runner.message_hub.get_scalar('train/weight_temporal').current() == pytest.approx(
        expected
    )


def test_schedule_after_end_and_step_and_wrapped_model():
    hook = SSLLossWeightHook(
        schedule=dict(
            temporal=dict(start=10, end=20, value=2.0), motion=dict(start=5, end=5, value=0.3)
        )
    )
    assert [hook.weight('temporal', i) for i in (9, 10, 15, 20, 10_000)] == [0, 0, 1, 2, 2]
    assert [hook.weight('motion', i) for i in (4, 5, 6)] == [0, 0.3, 0.3]
    module = nn.Linear(1, 1)
    module.loss_weights = {'motion': 0.5, 'temporal': 1.0}
    runner = weight_runner(12)
    runner.model = nn.DataParallel(module)  # a model wrapper (no GPU needed)
    hook.before_train_iter(runner, batch_idx=0)
    assert module.loss_weights == {'motion': 0.3, 'temporal': pytest.approx(0.4)}


def test_bad_schedules_are_refused():
    with pytest.raises(ValueError, match=r"schedule\['temporal'\].*missing \['end'\]"):
        SSLLossWeightHook(schedule=dict(temporal=dict(start=1, value=1.0)))
    with pytest.raises(ValueError, match='start <= end'):
        SSLLossWeightHook(schedule=dict(temporal=dict(start=5, end=1, value=1.0)))
    hook = SSLLossWeightHook(schedule=dict(tempral=dict(start=0, end=1, value=1.0)))
    with pytest.raises(KeyError, match="'tempral'"):
        hook.before_train_iter(weight_runner(0), batch_idx=0)


# -- pretrained-weights export ---------------------------------------------------------------


@pytest.fixture(scope='module')
def models(repo_root):
    nano = Config.fromfile(f'{repo_root}/{NANO}').model
    torch.manual_seed(0)
    ssl = MODELS.build(
        dict(
            type='COFNetSSL',
            backbone=nano.backbone,
            neck=nano.neck,
            objectness=dict(type='ObjectnessMap', num_classes=3),
        )
    )
    cofnet = MODELS.build(Config.fromfile(f'{repo_root}/{COFNET}').model)
    return ssl, cofnet


def test_export_loads_into_cofnet(models, tmp_path):
    ssl, cofnet = models
    hook = HOOKS.build(dict(type='PretrainedWeightsHook', out='pretrained.pth'))
    runner = SimpleNamespace(model=nn.DataParallel(ssl), work_dir=str(tmp_path), iter=7)
    hook.after_train(runner)
    assert os.listdir(tmp_path) == ['pretrained.pth']  # no temporary file left
    ckpt = torch.load(tmp_path / 'pretrained.pth', map_location='cpu', weights_only=True)
    assert ckpt['meta'] == dict(iter=7, source='COFNetSSL', prefixes=list(PREFIXES))
    assert set(ckpt['state_dict']) == set(ssl.state_dict())
    assert all(key.startswith(PREFIXES) for key in ckpt['state_dict'])

    load_checkpoint(cofnet, str(tmp_path / 'pretrained.pth'), map_location='cpu', strict=False)
    loaded = {k: v for k, v in cofnet.state_dict().items() if k.startswith(PREFIXES)}
    assert set(loaded) == set(ckpt['state_dict'])  # no backbone/neck/objectness key missing
    for key, value in loaded.items():
        assert torch.equal(value, ckpt['state_dict'][key]), key


def test_export_after_checkpoint_uses_the_checkpoints_weights(models, tmp_path):
    ssl, _ = models
    hook = PretrainedWeightsHook(out='weights/ssl.pth', prefixes=('neck.',))
    state = {k: torch.full_like(v, 3.0) for k, v in ssl.state_dict().items()}  # e.g. EMA's
    runner = SimpleNamespace(model=ssl, work_dir=str(tmp_path), iter=3)
    hook.after_save_checkpoint(runner, dict(state_dict=state, meta=dict(iter=4)))
    path = tmp_path / 'weights' / 'ssl.pth'
    ckpt = torch.load(path, weights_only=True)
    assert ckpt['meta']['iter'] == 4 and ckpt['meta']['prefixes'] == ['neck.']
    assert set(ckpt['state_dict']) == {k for k in state if k.startswith('neck.')}
    assert all((v == 3).all() for v in ckpt['state_dict'].values())
    # The end of training at that iteration keeps the checkpoint's weights; later ones rewrite.
    runner.iter = 4
    hook.after_train(runner)
    assert all((v == 3).all() for v in torch.load(path, weights_only=True)['state_dict'].values())
    runner.iter = 5
    hook.after_train(runner)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt['meta']['iter'] == 5
    assert torch.equal(ckpt['state_dict']['neck.film.weight'], ssl.state_dict()['neck.film.weight'])


def test_export_without_matching_keys_is_an_error(models, tmp_path):
    hook = PretrainedWeightsHook(prefixes=('head.',))
    runner = SimpleNamespace(model=models[0], work_dir=str(tmp_path), iter=1)
    with pytest.raises(KeyError, match=r"no state-dict key starts with \['head.'\]"):
        hook.after_train(runner)
    assert not os.listdir(tmp_path)
