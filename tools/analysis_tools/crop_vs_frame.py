"""Does a detector see a region the same in a training-size crop and in the whole frame?

Examples::

    python tools/analysis_tools/crop_vs_frame.py configs/cofnet/cofnet_nano_halmstad.py CKPT
    python tools/analysis_tools/crop_vs_frame.py configs/baselines/rtmdet_tiny_halmstad.py CKPT

Detectors trained on crops (``SmallObjectCrop``) are tested on whole frames. A convolutional
network sees a crop's interior the same either way; a global token mixer (the selective scan runs
over every row and column of the map) does not, and its hidden state on a 640-px row has run
twice as long as any it met in training. For every ``--step``-th test image the tool takes a
``--crop`` square around its first object and runs the detector twice: on the crop alone and on
the whole frame. It prints

- the COCO AP of each on the same region and ground truth (objects at least half inside the
  region; the frame's detections whose centre falls inside it, clipped to it);
- per backbone output, the relative difference ``|f_frame - f_crop| / |f_crop|`` of the features
  in the crop's interior (``--margin`` px from its edges left out: there even a CNN sees the
  frame's pixels where the crop had padding).
"""

from __future__ import annotations

import argparse
import warnings

import torch
from _cli import detector_tool_parser
from mmdet.registry import DATASETS, METRICS
from mmdet.structures.bbox import get_box_tensor
from mmengine.dataset import pseudo_collate
from torch import Tensor

import mmcofnet  # noqa: F401  (registers the components)
from mmcofnet.apis import build_detector, load_config


def parse_args() -> argparse.Namespace:
    parser = detector_tool_parser('A region seen in a crop and in the frame')
    parser.add_argument('--crop', type=int, default=320, help='side of the crop (training size)')
    parser.add_argument(
        '--margin', type=int, default=32, help='crop border left out of the feature comparison, px'
    )
    parser.add_argument('--step', type=int, default=4, help='every step-th test image')
    return parser.parse_args()


def crop_origin(
    box: Tensor, size: int, width: int, height: int, align: int = 32
) -> tuple[int, int]:
    """Top-left corner of a ``size`` square about centred on ``box`` (xyxy), inside the image.

    The corner is a multiple of ``align`` (the coarsest stride), so that the crop's feature cells
    are the frame's cells and a convolutional network computes the same features in both.
    """
    cx, cy = float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2
    x0 = int(min(max(cx - size / 2, 0), max(width - size, 0))) // align * align
    y0 = int(min(max(cy - size / 2, 0), max(height - size, 0))) // align * align
    return x0, y0


def boxes_in_region(
    boxes: Tensor, x0: int, y0: int, size: int, by_centre: bool
) -> tuple[Tensor, Tensor]:
    """Boxes moved into the region's coordinates and clipped to it, and which were kept.

    Args:
        boxes: ``[N, 4]`` xyxy in the frame.
        x0, y0: The region's top-left corner.
        size: The region's side.
        by_centre: Keep the boxes whose centre is inside (predictions); otherwise those with at
            least half their area inside (ground truth, as ``SmallObjectCrop`` keeps them).

    Returns:
        tuple: ``[M, 4]`` clipped boxes and the ``[N]`` mask of the kept ones.
    """
    moved = boxes - boxes.new_tensor([x0, y0, x0, y0])
    clipped = moved.clamp(0, size)
    if by_centre:
        centre = (moved[:, :2] + moved[:, 2:]) / 2
        keep = ((centre >= 0) & (centre < size)).all(dim=1)
    else:
        area = (moved[:, 2:] - moved[:, :2]).prod(dim=1).clamp(min=1e-6)
        keep = (clipped[:, 2:] - clipped[:, :2]).prod(dim=1) >= 0.5 * area
    return clipped[keep], keep


def crop_batch(batch: dict, x0: int, y0: int, size: int) -> dict:
    """The test batch of one image cut to the region (a new sample of the region's size)."""
    image = batch['inputs'][0][:, y0 : y0 + size, x0 : x0 + size]
    sample = batch['data_samples'][0].clone()
    h, w = image.shape[-2:]
    sample.set_metainfo(
        dict(ori_shape=(h, w), img_shape=(h, w), scale_factor=(1.0, 1.0), pad_shape=(h, w))
    )
    return dict(inputs=[image], data_samples=[sample])


def relative_differences(
    model: torch.nn.Module, frame: Tensor, crop: Tensor, x0: int, y0: int, size: int, margin: int
) -> list[float]:
    """Per backbone output, ``|f_frame - f_crop| / |f_crop|`` inside the crop's interior."""
    diffs = []
    for full, part in zip(model.backbone(frame), model.backbone(crop)):
        stride = frame.shape[-1] // full.shape[-1]
        lo, hi = margin // stride, (size - margin) // stride
        if hi <= lo:
            continue
        a = full[..., y0 // stride + lo : y0 // stride + hi, x0 // stride + lo : x0 // stride + hi]
        b = part[..., lo:hi, lo:hi]
        diffs.append(((a - b).norm() / b.norm().clamp(min=1e-12)).item())
    return diffs


def as_coco_sample(img_id: int, size: int, pred: dict, gt_boxes: Tensor, gt_labels: Tensor) -> dict:
    instances = [
        dict(bbox=box.tolist(), bbox_label=int(label), ignore_flag=0)
        for box, label in zip(gt_boxes, gt_labels)
    ]
    return dict(img_id=img_id, ori_shape=(size, size), pred_instances=pred, instances=instances)


def main() -> None:
    args = parse_args()
    warnings.filterwarnings('ignore', category=FutureWarning)
    cfg = load_config(args.config, args.cfg_options)
    model = build_detector(cfg, args.checkpoint, args.device)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    metrics = {}
    for mode in ('crop alone', 'whole frame'):
        metric = METRICS.build(dict(type='CocoMetric', metric='bbox', classwise=True))
        metric.dataset_meta = model.dataset_meta
        metrics[mode] = metric
    diffs = []
    with torch.no_grad():
        for index in range(0, len(dataset), args.step):
            batch = pseudo_collate([dataset[index]])
            gt = batch['data_samples'][0].gt_instances
            if len(gt) == 0:
                continue
            gt_boxes = get_box_tensor(gt.bboxes)
            height, width = batch['inputs'][0].shape[-2:]
            size = min(args.crop, height, width)
            x0, y0 = crop_origin(gt_boxes[0], size, width, height)
            region_gt, keep = boxes_in_region(gt_boxes, x0, y0, size, by_centre=False)
            region_labels = gt.labels[keep]
            crop = crop_batch(batch, x0, y0, size)
            for mode, data in (('crop alone', crop), ('whole frame', batch)):
                pred = model.test_step(data)[0].pred_instances
                boxes, kept = pred.bboxes, torch.ones(len(pred), dtype=torch.bool)
                if mode == 'whole frame':
                    boxes, kept = boxes_in_region(pred.bboxes, x0, y0, size, by_centre=True)
                result = dict(
                    bboxes=boxes.cpu(),
                    scores=pred.scores[kept].cpu(),
                    labels=pred.labels[kept].cpu(),
                )
                metrics[mode].process(
                    {}, [as_coco_sample(index, size, result, region_gt, region_labels)]
                )
            if hasattr(model, 'backbone'):
                frame_in = model.data_preprocessor(batch, False)['inputs']
                crop_in = model.data_preprocessor(crop, False)['inputs']
                diffs.append(
                    relative_differences(model, frame_in, crop_in, x0, y0, size, args.margin)
                )
    for mode, metric in metrics.items():
        results = metric.evaluate(len(metric.results))
        main_keys = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_s')
        print(
            f'{mode:<12} '
            + '  '.join(f'{k.split("_", 1)[1]}: {results["coco/" + k]:.3f}' for k in main_keys)
        )
    if diffs:
        mean = torch.tensor(diffs).mean(dim=0).tolist()
        print(
            'feature difference inside the crop, per backbone output: '
            + ', '.join(f'{d:.3f}' for d in mean)
        )


if __name__ == '__main__':
    main()
