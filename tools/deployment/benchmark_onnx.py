"""Latency of exported models in ONNX Runtime, side by side, beside a detector in PyTorch.

Each subject runs batch-1 inference on the same synthetic sky frame, normalised as its
``end2end.json`` says (``deploy.py`` writes it), and the subjects take turns (round robin) so that
a slow spell of the machine falls on all alike. Prints the median and mean latency of each and
its ratio to the first subject's median.

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


def normalised(image: np.ndarray, meta: dict) -> np.ndarray:
    """``[1, 3, H, W]`` float32 input of an exported model from a BGR ``[H, W, 3]`` frame."""
    image = image[..., ::-1] if meta.get('bgr_to_rgb') else image
    x = (image.astype(np.float32) - np.float32(meta['mean'])) / np.float32(meta['std'])
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def onnx_subject(path: str, frame: np.ndarray, threads: int | None):
    """(name, a call of the ONNX Runtime session on the frame)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    with open(osp.splitext(path)[0] + '.json') as f:
        feed = {session.get_inputs()[0].name: normalised(frame, json.load(f))}
    name = osp.basename(osp.dirname(osp.abspath(path))) + ' (ONNX Runtime)'
    return name, lambda: session.run(None, feed)


def pytorch_subject(config: str, checkpoint: str, frame: np.ndarray, meta: dict):
    """(name, the detector's ``predict`` on the same normalised input as the exported graph)."""
    from mmdet.apis import init_detector
    from mmdet.structures import DetDataSample

    model = init_detector(config, checkpoint, device='cpu')
    inputs = torch.from_numpy(normalised(frame, meta))
    shape = tuple(frame.shape[:2])
    sample = DetDataSample(
        metainfo=dict(
            img_shape=shape,
            ori_shape=shape,
            pad_shape=shape,
            batch_input_shape=shape,
            scale_factor=(1.0, 1.0),
        )  # fmt: skip
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
    subjects = [onnx_subject(path, frame, args.threads) for path in args.models]
    with open(osp.splitext(args.models[0])[0] + '.json') as f:
        meta = json.load(f)
    subjects += [pytorch_subject(cfg, ckpt, frame, meta) for cfg, ckpt in args.pytorch]
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
