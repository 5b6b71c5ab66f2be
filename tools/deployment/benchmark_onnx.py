"""Latency of exported models in ONNX Runtime, side by side, beside a detector in PyTorch.

Each subject runs batch-1 inference on the same synthetic sky frame, preprocessed as
``onnx_infer.py`` does from its ``end2end.json`` (``deploy.py`` writes it), and the subjects take
turns (round robin) so that a slow spell of the machine falls on all alike. Prints the median
and mean latency of each and its ratio to the first subject's median.

Example (CPU, 640x512, COFNet-nano at 1 and 4 DDIM steps against RTMDet-tiny):
    python tools/deployment/benchmark_onnx.py \\
        work_dirs/deploy/cofnet_nano/end2end.onnx work_dirs/deploy/cofnet_nano_4step/end2end.onnx \\
        work_dirs/deploy/rtmdet_tiny/end2end.onnx \\
        --pytorch configs/cofnet/cofnet_nano_halmstad.py CKPT --shape 512 640
"""

from __future__ import annotations

import argparse
import json
import os.path as osp
import sys

import numpy as np
import torch
from onnx_infer import OnnxDetector  # the script beside this one

from mmcofnet.datasets import SkySceneSampler, render_frame
from mmcofnet.utils import time_in_turns_ms


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='ONNX Runtime latency, side by side')
    parser.add_argument('models', nargs='+', help='end2end.onnx files (end2end.json beside each)')
    parser.add_argument(
        '--pytorch',
        nargs=2,
        action='append',
        default=[],
        metavar=('CONFIG', 'CKPT'),
        help='also time this detector in PyTorch (repeatable)',
    )
    parser.add_argument('--shape', type=int, nargs=2, default=(512, 640), metavar=('H', 'W'))
    parser.add_argument('--repeat', type=int, default=30, help='timed runs of each')
    parser.add_argument('--warmup', type=int, default=3, help='untimed runs of each first')
    parser.add_argument('--threads', type=int, default=None, help='threads of each (all cores)')
    return parser.parse_args(argv)


def onnx_subject(path: str, frame: np.ndarray, threads: int | None):
    """(name, a session call on the frame, the graph's input): ``onnx_infer.py``'s preprocessing."""
    with open(osp.splitext(path)[0] + '.json') as f:
        detector = OnnxDetector(path, json.load(f), threads)
    x = detector.preprocess(frame)[0]
    name = osp.basename(osp.dirname(osp.abspath(path))) + ' (ONNX Runtime)'
    return name, lambda: detector.session.run(None, {detector.input_name: x}), x


def pytorch_subject(config: str, checkpoint: str, inputs: np.ndarray):
    """(name, the detector's ``predict`` on the same input as an exported graph)."""
    from mmdet.apis import init_detector
    from mmdet.structures import DetDataSample

    model = init_detector(config, checkpoint, device='cpu')
    inputs = torch.from_numpy(inputs)
    shape = tuple(inputs.shape[2:])
    sample = DetDataSample(
        metainfo=dict(
            img_shape=shape,
            ori_shape=shape,
            pad_shape=shape,
            batch_input_shape=shape,
            scale_factor=(1.0, 1.0),
        )
    )

    def call() -> None:
        with torch.no_grad():
            model(inputs, [sample], mode='predict')

    return osp.splitext(osp.basename(config))[0] + ' (PyTorch)', call


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    height, width = args.shape
    frame = render_frame(SkySceneSampler(width, height).sample(0, 0))
    exported = [onnx_subject(path, frame, args.threads) for path in args.models]
    subjects = [(name, call) for name, call, _ in exported]
    inputs = exported[0][2]  # PyTorch gets the first export's input
    subjects += [pytorch_subject(cfg, ckpt, inputs) for cfg, ckpt in args.pytorch]
    names, calls = zip(*subjects)
    times = time_in_turns_ms(calls, args.repeat, warmup=args.warmup)
    reference = float(np.median(times[0]))
    print(f'{width}x{height}, batch 1, {args.repeat} timed runs each after {args.warmup}, in turns')
    print(f'{"model":<48}{"median ms":>11}{"mean ms":>10}{"ratio":>8}')
    for name, ms in zip(names, times):
        median = float(np.median(ms))
        print(f'{name:<48}{median:>11.1f}{np.mean(ms):>10.1f}{median / reference:>8.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
