"""tools/dist_train.sh and tools/dist_test.sh: two torchrun processes on CPU (gloo)."""

import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
from mmengine.config import Config

from mmcofnet.utils import setup_cpu_distributed

CONFIG = 'configs/cofnet/cofnet_nano_sky-synth.py'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_script(repo_root: str, *args: str) -> str:
    """Runs a tools/ shell script with this interpreter on CPU; returns its output."""
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()), CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run(
        ['bash', *args], cwd=repo_root, env=env, capture_output=True, text=True, timeout=600
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{args} failed:\n{log[-4000:]}'
    return log


@pytest.mark.slow
def test_two_cpu_processes_train_save_once_and_evaluate_once(
    repo_root, write_smoke_config, tmp_path
):
    config = write_smoke_config(CONFIG, tmp_path)
    work_dir = str(tmp_path / 'work')
    log = run_script(repo_root, 'tools/dist_train.sh', config, '2', '--work-dir', work_dir)
    # torchrun exits 0 only when both ranks did; rank 0 alone logs, saves and evaluates.
    assert 'Distributed training: True' in log
    assert 'Iter(train) [4/4]' in log
    assert sorted(f for f in os.listdir(work_dir) if f.endswith('.pth')) == [
        'iter_2.pth',
        'iter_4.pth',
    ]
    assert log.count('bbox_mAP_copypaste') == 1

    log = run_script(
        repo_root, 'tools/dist_test.sh', config, osp.join(work_dir, 'iter_4.pth'), '2',
        '--work-dir', str(tmp_path / 'test'),
    )  # fmt: skip
    assert log.count('bbox_mAP_copypaste') == 1


def test_cpu_setup_leaves_single_process_and_gpu_runs_alone(monkeypatch):
    cfg = Config(dict(launcher='none'))
    assert not setup_cpu_distributed(cfg) and 'model_wrapper_cfg' not in cfg
    monkeypatch.setattr('torch.cuda.is_available', lambda: True)
    cfg = Config(dict(launcher='pytorch', env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert not setup_cpu_distributed(cfg)
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and 'model_wrapper_cfg' not in cfg
