"""What tools/train.py and tools/test.py share: the runner's options, its config, the runner."""

from __future__ import annotations

import argparse
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmcofnet.apis import load_config
from mmcofnet.utils import (
    VIS_BACKENDS,
    add_vis_backends,
    check_vis_backends,
    keep_freed_memory,
    setup_cpu_distributed,
)


def runner_parser(description: str, config_help: str) -> argparse.ArgumentParser:
    """A parser with the config and the options every runner tool takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('config', help=config_help)
    parser.add_argument('--work-dir', help='the dir to save logs, checkpoints and metrics')
    parser.add_argument(
        '--vis-backend',
        nargs='+',
        choices=sorted(VIS_BACKENDS),
        help='also log to these visualizer backends (optional packages)',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs (e.g. train_cfg.max_iters=100)',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def runner_config(args: argparse.Namespace) -> Config:
    """The config with the shared options applied (launcher, work dir, visualizer backends)."""
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    setup_cpu_distributed(cfg)  # torchrun on a machine without CUDA: gloo
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.vis_backend:
        add_vis_backends(cfg, args.vis_backend)
    check_vis_backends(cfg)
    return cfg


def build_runner(cfg: Config) -> Runner:
    """mmengine's runner for the config (its own ``runner_type`` if it names one)."""
    keep_freed_memory()  # large activations: reuse pages instead of page-faulting each pass
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
