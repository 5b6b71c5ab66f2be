"""Train a detector with mmengine's Runner (mmdet 3.x's tools/train.py, for mmcofnet configs).

Example:
    python tools/train.py configs/baselines/rtmdet_tiny_sky-synth.py
    python tools/train.py CONFIG --resume                       # the latest checkpoint
    python tools/train.py CONFIG --cfg-options train_cfg.max_iters=100
    python tools/train.py CONFIG --vis-backend tensorboard      # also log to TensorBoard

TensorBoard / W&B: the config key is ``visualizer.vis_backends`` (see
mmcofnet/utils/vis_backends.py); ``--vis-backend`` adds them. Both are optional packages, checked
before the run starts.
"""

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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp', action='store_true', help='enable automatic mixed precision (needs a GPU)'
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; without a path, from the latest one in the work dir',
    )
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
    return parser.parse_args()


def build_config(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    setup_cpu_distributed(cfg)  # torchrun on a machine without CUDA: gloo
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume checkpoint not found: {args.resume}')
        cfg.resume = True
        cfg.load_from = args.resume
    if args.vis_backend:
        add_vis_backends(cfg, args.vis_backend)
    check_vis_backends(cfg)
    return cfg


def main() -> None:
    keep_freed_memory()  # large activations: reuse pages instead of page-faulting each pass
    cfg = build_config(parse_args())
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()
