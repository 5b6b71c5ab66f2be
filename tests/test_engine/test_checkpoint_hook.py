"""AtomicCheckpointHook: a training process killed mid-save keeps its last good checkpoint."""

import json
import os
import os.path as osp
import signal

import pytest
import torch
from conftest import run_tool

CONFIG = 'configs/cofnet/cofnet_nano_sky-synth.py'
KEEP_ONE = """
max_iters = 6
train_cfg = dict(max_iters=6, val_interval=100)
default_hooks = dict(checkpoint=dict(interval=2, max_keep_ckpts=1))
custom_imports = dict(imports=['mmcofnet', 'kill_mid_save'], allow_failed_imports=False)
custom_hooks = [dict(type='RecordResumedStateHook')]
"""


def train(repo_root, config, work_dir, *args, **env):
    env['PYTHONPATH'] = osp.dirname(__file__)  # kill_mid_save
    return run_tool(
        repo_root, 'tools/train.py', config, '--work-dir', work_dir, *args, check=False, env=env
    )


@pytest.mark.slow
def test_kill_mid_save_keeps_last_checkpoint_and_resumes_its_state(
    repo_root, write_smoke_config, tmp_path
):
    config = write_smoke_config(CONFIG, tmp_path)
    with open(config, 'a') as f:
        f.write(KEEP_ONE)
    work_dir, state_file = str(tmp_path / 'work'), str(tmp_path / 'state.json')

    killed = train(
        repo_root, config, work_dir,
        MMCOFNET_KILL_SAVING='iter_4.pth', MMCOFNET_RESUMED_STATE=state_file,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    # max_keep_ckpts=1: mmengine's CheckpointHook would have deleted iter_2.pth before writing.
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth.part'))
    assert not osp.exists(osp.join(work_dir, 'iter_4.pth'))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work_dir, 'iter_2.pth')
    saved = torch.load(osp.join(work_dir, 'iter_2.pth'), map_location='cpu', weights_only=True)

    resumed = train(repo_root, config, work_dir, '--resume', MMCOFNET_RESUMED_STATE=state_file)
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    assert 'iter_4.pth.part: a killed run left it unfinished' in log
    with open(state_file) as f:
        state = json.load(f)
    assert state['iter'] == saved['meta']['iter'] == 2
    assert state['lr'] == pytest.approx(saved['optimizer']['param_groups'][0]['lr'], rel=1e-12)
    moment = saved['optimizer']['state'][state['param_index']]['exp_avg']
    assert state['exp_avg_sum'] == pytest.approx(float(moment.sum()), rel=1e-6)
    assert sorted(f for f in os.listdir(work_dir) if '.pth' in f) == ['iter_6.pth']
