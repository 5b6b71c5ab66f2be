"""Export a detector to ONNX with MMDeploy, then check ONNX Runtime against PyTorch.

Writes ``WORK_DIR/end2end.onnx`` (and ``end2end.json``, the input normalisation and class names
that ``onnx_infer.py`` reads), runs it in ONNX Runtime and the checkpoint in PyTorch on the
same preprocessed images, prints their agreement (matched boxes, the largest box and score
differences) and each one's latency, and exits with status 1 when they disagree beyond the
tolerances. Works for COFNet (``configs/deploy/`` import its rewriters) and for mmdet's detectors.

Example:
    python tools/deployment/deploy.py configs/cofnet/cofnet_nano_halmstad.py CKPT \\
        --deploy-cfg configs/deploy/detection_onnxruntime_static-640x512.py \\
        --work-dir work_dirs/deploy/cofnet_nano --img frame.jpg

mmdeploy 1.3.1 calls ``torch.onnx.export``, whose default became the dynamo exporter in torch
2.9; mmdeploy's rewriters work with the TorchScript exporter, which the export here asks for.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np
import torch

from mmcofnet.datasets import SkySceneSampler, render_frame
from mmcofnet.deploy.agreement import Agreement, compare_detections
from mmcofnet.utils import time_in_turns_ms


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export to ONNX and check it against PyTorch')
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--deploy-cfg', required=True, help='MMDeploy config (configs/deploy/)')
    parser.add_argument('--work-dir', required=True, help='where end2end.onnx is written')
    parser.add_argument(
        '--img',
        nargs='+',
        help='images to export with and compare on (default: one synthetic sky frame of the '
        "deploy config's input size)",
    )
    parser.add_argument('--box-tol', type=float, default=1.0, help='largest box difference, px')
    parser.add_argument('--score-tol', type=float, default=0.01, help='largest score difference')
    parser.add_argument('--repeat', type=int, default=10, help='timed runs of each, for latency')
    return parser.parse_args(argv)


@contextlib.contextmanager
def torchscript_onnx_export():
    """``torch.onnx.export`` with ``dynamo=False`` for the duration (mmdeploy's rewriters)."""
    export = torch.onnx.export
    torch.onnx.export = functools.partial(export, dynamo=False)
    try:
        yield
    finally:
        torch.onnx.export = export


def default_image(deploy_cfg, work_dir: str) -> str:
    """A synthetic sky frame of the deploy config's input size (640x512 without one)."""
    width, height = deploy_cfg.onnx_config.get('input_shape') or (640, 512)
    scene = SkySceneSampler(width, height).sample(0, 0)
    path = osp.join(work_dir, 'sky_frame.png')
    cv2.imwrite(path, render_frame(scene))
    return path


def write_meta(onnx_file: str, model_cfg, model, input_shape) -> str:
    """``end2end.json`` beside the model: what ``onnx_infer.py`` needs to feed it and name its
    classes (the graph takes normalised images; the normalisation is the data preprocessor's)."""
    preprocessor = model_cfg.model.data_preprocessor
    meta = dict(
        mean=list(preprocessor.mean),
        std=list(preprocessor.std),
        bgr_to_rgb=bool(preprocessor.get('bgr_to_rgb', False)),
        pad_size_divisor=int(preprocessor.get('pad_size_divisor', 1)),
        input_shape=list(input_shape) if input_shape else None,  # [width, height] if static
        classes=list((getattr(model, 'dataset_meta', None) or {}).get('classes', [])),
    )
    path = osp.splitext(onnx_file)[0] + '.json'
    with open(path, 'w') as f:
        json.dump(meta, f, indent=2)
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from mmdeploy.apis import torch2onnx
    from mmdeploy.apis.utils import build_task_processor
    from mmdeploy.utils import load_config

    os.makedirs(args.work_dir, exist_ok=True)
    deploy_cfg, model_cfg = load_config(args.deploy_cfg, args.config)
    images = args.img or [default_image(deploy_cfg, args.work_dir)]
    save_file = deploy_cfg.onnx_config.save_file
    with torchscript_onnx_export():
        torch2onnx(
            images[0], args.work_dir, save_file, deploy_cfg, model_cfg, args.checkpoint, 'cpu'
        )
    onnx_file = osp.join(args.work_dir, save_file)

    processor = build_task_processor(model_cfg, deploy_cfg, 'cpu')
    torch_model = processor.build_pytorch_model(args.checkpoint)
    ort_model = processor.build_backend_model([onnx_file])
    input_shape = deploy_cfg.onnx_config.get('input_shape')
    write_meta(onnx_file, model_cfg, torch_model, input_shape)
    agreement = Agreement()
    for image in images:
        data, _ = processor.create_input(image, input_shape)
        with torch.no_grad():
            expected = torch_model.test_step(data)[0]
            got = ort_model.test_step(data)[0].pred_instances
        frame = expected.metainfo['ori_shape']
        agreement.add(compare_detections(expected.pred_instances, got, frame))

    data, _ = processor.create_input(images[0], input_shape)
    inputs = torch_model.data_preprocessor(data, False)['inputs']  # what the graph takes
    session = ort_model.wrapper.sess
    feed = {session.get_inputs()[0].name: inputs.numpy()}

    def pytorch_run() -> None:
        with torch.no_grad():
            torch_model.test_step(data)

    ms = time_in_turns_ms([pytorch_run, lambda: session.run(None, feed)], args.repeat, warmup=2)
    print(f'exported: {onnx_file}')
    print(agreement.summary())
    for name, times in zip(('PyTorch', 'ONNX Runtime'), ms):
        print(f'{name:>12}: {np.median(times):8.1f} ms (median of {len(times)})')
    problems = agreement.problems(args.box_tol, args.score_tol)
    for problem in problems:
        print(f'DISAGREE: {problem}')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
