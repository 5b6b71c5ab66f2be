"""A grid of test images with predicted (red) and ground-truth (green) boxes, one PNG.

Examples::

    python tools/analysis_tools/show_detections.py configs/baselines/rtmdet_tiny_sky-synth.py \\
        work_dirs/rtmdet_tiny_sky-synth/iter_500.pth --num 6 --out detections.png
    python tools/analysis_tools/show_detections.py CONFIG CKPT --start 20 --score-thr 0.5

The images are ``--num`` samples of the config's ``test_dataloader`` from index ``--start``, read
from their files or, for images rendered in memory (the synthetic sky), taken from the loader.
Both kinds of boxes are drawn on the original image (mmdet's test pipelines load the annotations
after resizing, so the ground truth is in original coordinates, as the predictions are); the
predictions are those with a score of at least ``--score-thr``, labelled with class and score.
"""

from __future__ import annotations

import argparse
import math
import os.path as osp
import warnings

import numpy as np
import torch
from _cli import image_tool_parser
from matplotlib.figure import Figure  # the object API: PNG through Agg, no display, no pyplot
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from mmdet.structures.bbox import get_box_tensor

import mmcofnet  # noqa: F401  (registers the components)
from mmcofnet.apis import build_detector, load_config, load_test_batches
from mmcofnet.engine.hooks.visualization_hook import original_image

GT_COLOUR, PRED_COLOUR = '#00e000', '#ff3030'


def parse_args() -> argparse.Namespace:
    parser = image_tool_parser('Draw detections on test images', 6, 0.3)
    parser.add_argument('--cols', type=int, help='grid columns (default: about square)')
    parser.add_argument('--out', default='detections.png', help='output PNG file')
    return parser.parse_args()


def draw(
    ax,
    image: np.ndarray,
    gt_boxes: np.ndarray,
    pred_boxes: np.ndarray,
    pred_labels: list[str],
    title: str,
) -> None:
    """Shows an RGB image with ground-truth and predicted xyxy boxes on a matplotlib axes."""
    ax.imshow(image)
    for boxes, colour in ((gt_boxes, GT_COLOUR), (pred_boxes, PRED_COLOUR)):
        for x1, y1, x2, y2 in boxes:
            ax.add_patch(
                Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=1.0)
            )
    for (x1, y1, _, _), label in zip(pred_boxes, pred_labels):
        ax.text(x1, y1 - 2, label, color=PRED_COLOUR, fontsize=6, va='bottom')
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def main() -> None:
    args = parse_args()
    warnings.filterwarnings('ignore', category=FutureWarning)  # mmdet's torch.cuda.amp.autocast
    cfg = load_config(args.config, args.cfg_options)
    model = build_detector(cfg, args.checkpoint, args.device)
    classes = model.dataset_meta.get('classes', ())
    batches = load_test_batches(cfg, args.num, args.start)
    cols = args.cols or math.ceil(math.sqrt(args.num))
    rows = math.ceil(args.num / cols)
    fig = Figure(figsize=(5 * cols, 3.6 * rows), layout='constrained')
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[args.num :]:
        ax.set_visible(False)
    with torch.no_grad():
        for ax, batch in zip(axes, batches):
            sample = model.test_step(batch)[0]
            pred = sample.pred_instances
            keep = pred.scores >= args.score_thr
            labels = [
                f'{classes[int(c)] if int(c) < len(classes) else int(c)} {s:.2f}'
                for c, s in zip(pred.labels[keep], pred.scores[keep])
            ]
            gt = sample.get('gt_instances')
            gt_boxes = (
                get_box_tensor(gt.bboxes).cpu().numpy() if gt is not None else np.zeros((0, 4))
            )
            draw(
                ax,
                original_image(sample, batch['inputs'][0]),
                gt_boxes,
                pred.bboxes[keep].cpu().numpy(),
                labels,
                f'{osp.basename(sample.img_path)}: {len(gt_boxes)} GT, {len(labels)} pred',
            )
    fig.legend(
        handles=[
            Line2D([], [], color=GT_COLOUR, label='ground truth'),
            Line2D([], [], color=PRED_COLOUR, label=f'prediction (score >= {args.score_thr:g})'),
        ],
        loc='outside lower center',
        ncols=2,
    )
    fig.savefig(args.out, dpi=150)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
