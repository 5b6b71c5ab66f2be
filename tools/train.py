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

from _runner_cli import build_runner, runner_config, runner_parser
from mmengine.config import Config


def parse_args() -> argparse.Namespace:
    parser = runner_parser('Train a detector', 'train config file path')
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
    return parser.parse_args()


def build_config(args: argparse.Namespace) -> Config:
    cfg = runner_config(args)
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
    return cfg


def main() -> None:
    build_runner(build_config(parse_args())).train()


if __name__ == '__main__':
    main()
