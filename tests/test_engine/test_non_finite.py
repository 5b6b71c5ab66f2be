"""SkipNonFiniteOptimWrapper and NonFiniteLossHook: NaN steps skipped, named, and a stop."""

import math
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from conftest import run_tool
from mmdet.registry import HOOKS, OPTIM_WRAPPERS
from torch import nn

CONFIG = 'configs/cofnet/cofnet_nano_sky-synth.py'


def wrapper(**kwargs):
    model = nn.Linear(3, 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    return model, OPTIM_WRAPPERS.build(
        dict(type='SkipNonFiniteOptimWrapper', optimizer=optimizer, **kwargs)
    )


def loss_of(model, scale=1.0):
    return model(torch.ones(4, 3)).sum() * scale


def test_nan_loss_leaves_weights_and_optimizer_state_untouched():
    model, optim = wrapper()
    before = [p.detach().clone() for p in model.parameters()]
    optim.update_params(loss_of(model, float('nan')))
    assert optim.skipped and not optim.optimizer.state
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())
    optim.update_params(loss_of(model, float('inf')))
    assert optim.skipped
    optim.update_params(loss_of(model))
    assert not optim.skipped
    assert not any(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_accumulation_window_that_ends_on_a_skip_steps_with_its_gradients():
    model, optim = wrapper(accumulative_counts=2)
    optim.initialize_count_status(model, 0, 4)
    before = [p.detach().clone() for p in model.parameters()]
    optim.update_params(loss_of(model))  # 1 of 2: gradients kept
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    optim.update_params(loss_of(model, float('nan')))  # 2 of 2: skipped, the window steps
    assert not any(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())


class Logger:
    def __init__(self):
        self.warnings = []

    def warning(self, message):
        self.warnings.append(message)


def test_hook_names_iteration_terms_and_images_and_stops_after_too_many():
    hook = HOOKS.build(dict(type='NonFiniteLossHook', max_in_a_row=2))
    _, optim = wrapper()
    runner = SimpleNamespace(iter=6, logger=Logger(), optim_wrapper=optim)
    batch = dict(data_samples=[SimpleNamespace(metainfo=dict(img_path='sky/f1.jpg'))])
    nan, one = torch.tensor(float('nan')), torch.tensor(1.0)
    hook.after_train_iter(runner, 0, batch, dict(loss=nan, loss_cls=one, loss_bbox=nan))
    (message,) = runner.logger.warnings
    assert message == (
        "iteration 7: non-finite loss terms ['loss_bbox'] on images ['sky/f1.jpg']: the "
        'optimizer step was skipped (1 in a row)'
    )
    hook.after_train_iter(runner, 0, batch, dict(loss=one))  # a finite iteration resets
    hook.after_train_iter(runner, 0, batch, dict(loss=nan))
    runner.iter = 8
    with pytest.raises(FloatingPointError, match=r'stopping at iteration 9: .* 2 iterations in a'):
        hook.after_train_iter(runner, 0, batch, dict(loss=nan))


def train(repo_root, config, work_dir, **env):
    env['PYTHONPATH'] = osp.dirname(__file__)  # nan_losses
    args = ('tools/train.py', config, '--work-dir', work_dir)
    return run_tool(repo_root, *args, check=False, env=env)


@pytest.mark.slow
def test_training_skips_nan_steps_and_stops_a_diverging_run(
    repo_root, write_smoke_config, tmp_path
):
    config = write_smoke_config(CONFIG, tmp_path)
    with open(config, 'a') as f:
        f.write("custom_imports = dict(imports=['mmcofnet', 'nan_losses'])\n")
        f.write('train_cfg = dict(max_iters=6, val_interval=100)\n')

    work_dir = str(tmp_path / 'skips')
    run = train(repo_root, config, work_dir, MMCOFNET_NAN_FROM='2', MMCOFNET_NAN_TO='3')
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    for iteration, in_a_row in ((2, 1), (3, 2)):
        assert (
            f"iteration {iteration}: non-finite loss terms ['loss_bbox'] on images "
            f"['synthetic_sky_seed0_" in log
        )
        assert f'the optimizer step was skipped ({in_a_row} in a row)' in log
    checkpoint = torch.load(osp.join(work_dir, 'iter_6.pth'), map_location='cpu', weights_only=True)
    assert all(torch.isfinite(v).all() for v in checkpoint['state_dict'].values())
    assert all(
        math.isfinite(float(v)) for s in checkpoint['optimizer']['state'].values()
        for v in (s['exp_avg'].sum(), s['exp_avg_sq'].sum())
    )  # fmt: skip

    run = train(repo_root, config, str(tmp_path / 'stops'), MMCOFNET_NAN_FROM='2')
    log = run.stdout + run.stderr
    assert run.returncode != 0
    assert (
        'FloatingPointError: stopping at iteration 6: non-finite losses in 5 iterations in a row '
        "(terms ['loss_bbox'])" in log
    )
