"""Test (evaluate) a detector checkpoint: bbox mAP, mAP_50, mAP_75, mAP_s/m/l, per-class AP.

Also reports the model's inference speed over the test set (``fps``, ``latency_ms``: model time,
data loading excluded; see ``InferenceSpeedHook``) and, with ``--pr-curves``, writes per-class
precision-recall curves.

Example:
    python tools/test.py configs/baselines/rtmdet_tiny_sky-synth.py work_dirs/.../iter_600.pth
    python tools/test.py CONFIG CKPT --out results.pkl --show-dir vis
    python tools/test.py CONFIG CKPT --pr-curves pr --vis-backend tensorboard

TensorBoard / W&B: the config key is ``visualizer.vis_backends`` (a list; mmdet's default runtime
has ``[dict(type='LocalVisBackend')]``): add ``dict(type='TensorboardVisBackend')`` or
``dict(type='WandbVisBackend')`` there, or pass ``--vis-backend tensorboard wandb``. The test
metrics, the speed and, with ``--show-dir``, the drawn images then go to those backends too.
Both are optional packages (``pip install tensorboard`` / ``wandb``); a missing one stops the run
before it starts, with that command.
"""

import argparse
import os.path as osp

from _runner_cli import build_runner, runner_config, runner_parser
from mmengine.config import Config


def parse_args() -> argparse.Namespace:
    parser = runner_parser('Test (and evaluate) a detector', 'test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', type=str, help='dump predictions to a pickle file (.pkl)')
    parser.add_argument(
        '--show-dir', help='write images with predicted boxes under the work dir / this dir'
    )
    parser.add_argument(
        '--pr-curves',
        metavar='DIR',
        help='write per-class precision-recall curves (IoU 0.5; PNG and JSON) to this dir',
    )
    parser.add_argument(
        '--speed-warmup',
        type=int,
        default=5,
        help='test iterations left out of the fps / latency_ms measurement',
    )
    return parser.parse_args()


def build_config(args: argparse.Namespace) -> Config:
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg = runner_config(args)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        visualization = cfg.default_hooks.visualization
        visualization.draw = True
        visualization.test_out_dir = args.show_dir
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl or .pickle file, got {args.out}')
        evaluators = cfg.test_evaluator
        evaluators = list(evaluators) if isinstance(evaluators, (list, tuple)) else [evaluators]
        cfg.test_evaluator = [*evaluators, dict(type='DumpDetResults', out_file_path=args.out)]
    if args.pr_curves is not None:
        cfg.test_evaluator = with_pr_curves(cfg.test_evaluator, args.pr_curves)
    cfg.custom_hooks = with_test_hooks(cfg.get('custom_hooks', []), args.speed_warmup)
    return cfg


def with_pr_curves(evaluators, out_dir: str) -> list:
    """The test evaluators with each ``CocoMetric`` replaced by ``CocoPRCurveMetric``."""
    evaluators = list(evaluators) if isinstance(evaluators, (list, tuple)) else [evaluators]
    coco = [
        str(e.get('type', '')).split('.')[-1] in ('CocoMetric', 'CocoPRCurveMetric')
        for e in evaluators
    ]
    if not any(coco):
        raise ValueError(
            '--pr-curves needs a CocoMetric in the test_evaluator, got '
            f'{[e.get("type") for e in evaluators]}'
        )
    return [
        dict(e, type='CocoPRCurveMetric', pr_curve_dir=out_dir) if is_coco else e
        for e, is_coco in zip(evaluators, coco)
    ]


def with_test_hooks(custom_hooks: list, speed_warmup: int) -> list:
    """``custom_hooks`` plus the speed and test-scalars hooks, unless the config has them."""
    hooks = list(custom_hooks)
    present = {str(hook.get('type', '')).split('.')[-1] for hook in hooks}
    if 'InferenceSpeedHook' not in present:
        hooks.append(dict(type='InferenceSpeedHook', num_warmup=speed_warmup))
    if 'TestScalarsHook' not in present:
        hooks.append(dict(type='TestScalarsHook'))
    return hooks


def main() -> None:
    build_runner(build_config(parse_args())).test()


if __name__ == '__main__':
    main()
