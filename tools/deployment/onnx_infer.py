"""Run an exported detector alone: ONNX Runtime, numpy and OpenCV (no torch, no mmcv).

Reads an image, a folder of images or a video, draws the detections and writes them to ``--out``
(a folder for images, a video file for a video). The model's input normalisation and class names
come from the ``end2end.json`` that ``deploy.py`` writes beside ``end2end.onnx``.

Example:
    python tools/deployment/onnx_infer.py work_dirs/deploy/cofnet_nano/end2end.onnx frames/ \\
        --out work_dirs/deploy/vis --score-thr 0.3
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
from collections.abc import Iterator

import cv2
import numpy as np
import onnxruntime as ort

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Detect with an exported model (ONNX Runtime)')
    parser.add_argument('model', help='end2end.onnx written by deploy.py')
    parser.add_argument('source', help='an image, a folder of images or a video')
    parser.add_argument('--out', required=True, help='output folder (images) or video file')
    parser.add_argument('--meta', help="the model's end2end.json (default: beside the model)")
    parser.add_argument('--score-thr', type=float, default=0.3, help='draw scores above this')
    return parser.parse_args(argv)


class OnnxDetector:
    """An exported detector: ``detect(bgr image) -> (boxes [K, 4], scores [K], labels [K])``.

    Args:
        model (str): The ONNX file.
        meta (dict): ``mean``, ``std``, ``bgr_to_rgb``, ``pad_size_divisor``, ``input_shape``
            (``[width, height]`` of a static export, or None) and ``classes``.
        threads (int, optional): ONNX Runtime's intra-op threads (default: all cores).
    """

    def __init__(self, model: str, meta: dict, threads: int | None = None) -> None:
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(model, options, providers=['CPUExecutionProvider'])
        self.input_name = self.session.get_inputs()[0].name
        self.meta = meta
        self.mean = np.asarray(meta['mean'], np.float32)
        self.std = np.asarray(meta['std'], np.float32)

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, float, float]:
        """``[1, 3, H, W]`` input and the x, y scale from the image to it."""
        h, w = image.shape[:2]
        if self.meta.get('input_shape'):
            width, height = self.meta['input_shape']
            image = cv2.resize(image, (width, height)) if (w, h) != (width, height) else image
        else:  # dynamic: the frame as it is, padded by repeating its border
            d = max(1, int(self.meta.get('pad_size_divisor', 1)))
            pad_h, pad_w = -h % d, -w % d
            image = cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
            width, height = w, h
        if self.meta.get('bgr_to_rgb'):
            image = image[..., ::-1]
        x = (image.astype(np.float32) - self.mean) / self.std
        return x.transpose(2, 0, 1)[None].copy(), width / w, height / h

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, sx, sy = self.preprocess(image)
        dets, labels = self.session.run(None, {self.input_name: x})
        keep = dets[0, :, 4] > 0  # the NMS output's padding rows have score 0 (as mmdeploy drops)
        boxes = dets[0, keep, :4] / np.array([sx, sy, sx, sy], np.float32)
        return boxes, dets[0, keep, 4], labels[0, keep]


def draw(image: np.ndarray, boxes, scores, labels, classes: list[str], score_thr: float) -> int:
    """Draws the detections above ``score_thr`` in place; returns how many."""
    keep = scores > score_thr
    for (x1, y1, x2, y2), score, label in zip(boxes[keep], scores[keep], labels[keep]):
        name = classes[label] if 0 <= label < len(classes) else str(label)
        p1, p2 = (int(x1), int(y1)), (int(x2), int(y2))
        cv2.rectangle(image, p1, p2, (0, 0, 255), 1)
        cv2.putText(image, f'{name} {score:.2f}', (p1[0], max(p1[1] - 3, 8)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 255), 1)  # fmt: skip
    return int(keep.sum())


def frames(source: str) -> Iterator[tuple[str, np.ndarray]]:
    """``(name, BGR image)`` of an image, each image of a folder, or each frame of a video."""
    if osp.isdir(source):
        for name in sorted(os.listdir(source)):
            if name.lower().endswith(IMAGE_SUFFIXES):
                yield name, read_image(osp.join(source, name))
    elif source.lower().endswith(IMAGE_SUFFIXES):
        yield osp.basename(source), read_image(source)
    else:
        video = cv2.VideoCapture(source)
        if not video.isOpened():
            raise OSError(f'{source}: not an image, a folder or a readable video')
        index = 0
        while True:
            ok, frame = video.read()
            if not ok:
                break
            yield f'{index:06d}', frame
            index += 1
        video.release()


def read_image(path: str) -> np.ndarray:
    image = cv2.imread(path)
    if image is None:
        raise OSError(f'{path}: not a readable image')
    return image


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    meta_file = args.meta or osp.splitext(args.model)[0] + '.json'
    with open(meta_file) as f:
        meta = json.load(f)
    detector = OnnxDetector(args.model, meta)
    is_video = not osp.isdir(args.source) and not args.source.lower().endswith(IMAGE_SUFFIXES)
    writer, total, count = None, 0, 0
    if not is_video:
        os.makedirs(args.out, exist_ok=True)
    for name, image in frames(args.source):
        boxes, scores, labels = detector.detect(image)
        total += draw(image, boxes, scores, labels, meta.get('classes', []), args.score_thr)
        count += 1
        if is_video:
            if writer is None:
                h, w = image.shape[:2]
                writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*'mp4v'), 25, (w, h))
            writer.write(image)
        else:
            cv2.imwrite(osp.join(args.out, osp.splitext(name)[0] + '.jpg'), image)
    if writer is not None:
        writer.release()
    print(f'{count} frames, {total} detections above {args.score_thr}: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
