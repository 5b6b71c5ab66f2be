"""Where a detector's boxes miss: per class, recall at IoU thresholds and centre / size errors.

Examples::

    python tools/analysis_tools/box_errors.py configs/cofnet/cofnet_nano_sky-synth.py \\
        work_dirs/cofnet_nano_sky-synth/iter_500.pth
    python tools/analysis_tools/box_errors.py CONFIG CKPT --num 20 --score-thr 0.3 --json

Every ground-truth box of ``--num`` test images (from ``--start``) is paired with the prediction
(score >= ``--score-thr``, any class) that overlaps it most. Per class the table gives the share
of objects whose best prediction reaches IoU 0.3 / 0.5 / 0.75 and, over the pairs at IoU >= 0.3,
the mean absolute centre error (x, y) and size error (w, h) in pixels and the mean signed size
error (positive: boxes too large). For objects a few pixels wide the split tells a coarse
localisation (centres off by a fraction of the stride) from a size bias. The last column is the
share of objects whose highest-scoring prediction at IoU >= 0.3 has the object's class (the JSON
rows count the classes it has as ``labelled_as``): a box in the right place with the wrong class
is no detection for the per-class AP.
"""

from __future__ import annotations

import argparse
import warnings

import torch
from _cli import image_tool_parser, print_rows
from mmdet.structures.bbox import bbox_overlaps, bbox_xyxy_to_cxcywh, get_box_tensor
from torch import Tensor

import mmcofnet  # noqa: F401  (registers the components)
from mmcofnet.apis import build_detector, load_config, load_test_batches

IOU_THRS = (0.3, 0.5, 0.75)


def parse_args() -> argparse.Namespace:
    parser = image_tool_parser('Localisation errors of a detector, per class', 60, 0.2)
    parser.add_argument('--json', action='store_true', help='print a JSON list on stdout')
    return parser.parse_args()


def pair_errors(gt_boxes: Tensor, pred_boxes: Tensor) -> Tensor:
    """Pairs each ground-truth box with the prediction that overlaps it most.

    Args:
        gt_boxes: ``[G, 4]`` xyxy.
        pred_boxes: ``[P, 4]`` xyxy.

    Returns:
        Tensor: ``[G, 5]``: the best IoU (0 without predictions), then the prediction's
        (cx, cy, w, h) minus the ground truth's.
    """
    if len(pred_boxes) == 0:
        return torch.cat(
            [
                gt_boxes.new_zeros(len(gt_boxes), 1),
                gt_boxes.new_full((len(gt_boxes), 4), float('nan')),
            ],
            dim=1,
        )
    best, index = bbox_overlaps(gt_boxes, pred_boxes).max(dim=1)
    diff = bbox_xyxy_to_cxcywh(pred_boxes[index]) - bbox_xyxy_to_cxcywh(gt_boxes)
    return torch.cat([best[:, None], diff], dim=1)


def top_labels(
    gt_boxes: Tensor, pred_boxes: Tensor, pred_scores: Tensor, pred_labels: Tensor
) -> Tensor:
    """The class of each object's highest-scoring prediction at IoU >= ``IOU_THRS[0]``.

    Args:
        gt_boxes: ``[G, 4]`` xyxy.
        pred_boxes: ``[P, 4]`` xyxy.
        pred_scores: ``[P]``.
        pred_labels: ``[P]``.

    Returns:
        Tensor: ``[G]`` class indices, -1 where no prediction overlaps enough.
    """
    if len(pred_boxes) == 0:
        return gt_boxes.new_full((len(gt_boxes),), -1, dtype=torch.long)
    near = bbox_overlaps(gt_boxes, pred_boxes) >= IOU_THRS[0]  # [G, P]
    best = torch.where(near, pred_scores[None], pred_scores.new_tensor(-1.0)).argmax(dim=1)
    return torch.where(near.any(dim=1), pred_labels[best].long(), -1)


def summarize(
    errors: Tensor, labels: Tensor, classes: list[str], predicted: Tensor | None = None
) -> list[dict]:
    """Per-class recall at :data:`IOU_THRS`, mean errors of the pairs at IoU >= 0.3 and labels.

    Args:
        errors: ``[G, 5]`` rows of :func:`pair_errors` for all objects.
        labels: ``[G]`` their classes.
        classes: Class names.
        predicted: ``[G]`` rows of :func:`top_labels` (optional).

    Returns:
        list[dict]: one row per class with objects (``class``, ``objects``, ``recall@T``,
        ``centre_err_px`` (x, y), ``size_err_px`` (w, h), ``size_bias_px`` (w, h) and, with
        ``predicted``, ``labelled_as`` (counts per class) and ``right_class`` (their share that
        is the object's class)).
    """
    rows = []
    for k, name in enumerate(classes):
        e = errors[labels == k]
        if len(e) == 0:
            continue
        row = dict(
            {'class': name, 'objects': len(e)},
            **{f'recall@{t}': round((e[:, 0] >= t).float().mean().item(), 3) for t in IOU_THRS},
        )
        hit = e[e[:, 0] >= IOU_THRS[0], 1:]
        if len(hit):
            row['centre_err_px'] = hit[:, :2].abs().mean(0).round(decimals=2).tolist()
            row['size_err_px'] = hit[:, 2:].abs().mean(0).round(decimals=2).tolist()
            row['size_bias_px'] = hit[:, 2:].mean(0).round(decimals=2).tolist()
        if predicted is not None:
            found = predicted[(labels == k) & (predicted >= 0)]
            row['labelled_as'] = torch.bincount(found, minlength=len(classes)).tolist()
            if len(found):
                row['right_class'] = round((found == k).float().mean().item(), 3)
        rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    """Prints the rows of :func:`summarize`, one line per class."""
    head = (
        ['class', 'objects']
        + [f'recall@{t}' for t in IOU_THRS]
        + ['|d cx|,|d cy|', '|d w|,|d h|', 'd w, d h', 'right class']
    )
    print(
        f'{head[0]:<12}{head[1]:>8}'
        + ''.join(f'{h:>12}' for h in head[2:5])
        + ''.join(f'{h:>15}' for h in head[5:])
    )
    for r in rows:
        pairs = [r.get(key) for key in ('centre_err_px', 'size_err_px', 'size_bias_px')]
        cells = ['-' if p is None else f'{p[0]:.2f}, {p[1]:.2f}' for p in pairs]
        cells.append(f'{r["right_class"]:.3f}' if 'right_class' in r else '-')
        print(
            f'{r["class"]:<12}{r["objects"]:>8}'
            + ''.join(f'{r[f"recall@{t}"]:>12.3f}' for t in IOU_THRS)
            + ''.join(f'{c:>15}' for c in cells)
        )


def run(args: argparse.Namespace) -> list[dict]:
    """Pairs the ground truth of the test images with the predictions; rows of :func:`summarize`."""
    cfg = load_config(args.config, args.cfg_options)
    model = build_detector(cfg, args.checkpoint, args.device)
    errors, labels, predicted = [], [], []
    with torch.no_grad():
        for batch in load_test_batches(cfg, args.num, args.start):
            sample = model.test_step(batch)[0]
            gt = sample.get('gt_instances')
            if gt is None or len(gt) == 0:
                continue
            pred = sample.pred_instances[sample.pred_instances.scores >= args.score_thr]
            gt_boxes = get_box_tensor(gt.bboxes).to(pred.bboxes)
            errors.append(pair_errors(gt_boxes, pred.bboxes))
            predicted.append(top_labels(gt_boxes, pred.bboxes, pred.scores, pred.labels))
            labels.append(gt.labels)
    if not errors:
        raise SystemExit(
            f'no ground-truth boxes in test images {args.start}..'
            f'{args.start + args.num - 1} of {args.config}'
        )
    return summarize(
        torch.cat(errors).cpu(),
        torch.cat(labels).cpu(),
        model.dataset_meta['classes'],
        torch.cat(predicted).cpu(),
    )


def main() -> None:
    args = parse_args()
    warnings.filterwarnings('ignore', category=FutureWarning)  # mmdet's torch.cuda.amp.autocast
    print_rows(lambda: run(args), print_table, args.json, 'mmcofnet-box-errors')


if __name__ == '__main__':
    main()
