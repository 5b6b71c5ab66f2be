"""Which part of COFNet's head finds the objects: the objectness map, the stages' boxes or scores.

Examples::

    python tools/analysis_tools/map_vs_stages.py configs/cofnet/cofnet_nano_halmstad.py CKPT
    # the same on training frames (the train-vs-val gap)
    python tools/analysis_tools/map_vs_stages.py CONFIG CKPT --cfg-options \\
        test_dataloader.dataset.ann_file=annotations/train.json \\
        test_dataloader.dataset.indices=500 test_evaluator.ann_file=ROOT/annotations/train.json

One pass of the model over the test set; the same features are decoded five ways and each is
evaluated with the config's test evaluator (COCO mAP, per class):

- ``head``: what the detector outputs (the config's ``test_cfg``);
- ``map``: the objectness map alone, decoded as CenterNet does (the ``prior_proposals`` strongest
  peaks, boxes from the map's sizes and offsets, scored by each class's heat at the peak);
- ``stages, class scores``: the stages' boxes scored by their classifier alone;
- ``stages, map scores``: the stages' boxes scored by the map's heat at their centres;
- ``map boxes, stage scores``: the map's peak boxes (the stages' inputs) scored by the classifier.

Comparing them tells whether the map or the stages lose the objects, and whether the stages'
boxes or their scores are worse than the map's.
"""

from __future__ import annotations

import argparse
import copy
import warnings

import torch
from _cli import detector_tool_parser
from mmdet.registry import METRICS
from mmengine.runner import Runner

import mmcofnet  # noqa: F401  (registers the components)
from mmcofnet.apis import build_detector, load_config

VARIANTS = ('head', 'map', 'stages, class scores', 'stages, map scores', 'map boxes, stage scores')


def parse_args() -> argparse.Namespace:
    parser = detector_tool_parser('COFNet: objectness map against the stages')
    return parser.parse_args()


def decode_variants(model: torch.nn.Module, data: dict) -> dict[str, list]:
    """Detections of one batch per variant (``InstanceData`` per image, boxes rescaled)."""
    head = model.bbox_head
    inputs, samples = data['inputs'], data['data_samples']
    metas = [s.metainfo for s in samples]
    field = model._field(inputs)
    img_wh = head._image_sizes(metas)
    objectness = head.objectness(field.levels[0])
    used = head._objectness(field)  # None unless the config's test_cfg uses the map
    steps = head.sample(field.sample, img_wh, used)
    cls_logits, boxes = steps[-1]
    peak_boxes, _ = head.objectness.peaks(objectness, head.num_proposals)
    peak_scores = head.objectness.scores_at(objectness, peak_boxes)
    scored = {
        'map': (peak_scores, peak_boxes),
        'stages, class scores': (cls_logits.sigmoid(), boxes),
        'stages, map scores': (head.objectness.scores_at(objectness, boxes), boxes),
    }
    cfg = head.test_cfg
    if head.diffusion and cfg.sampling_steps == 1 and cfg.prior_proposals >= head.num_proposals:
        # One step from the peaks: the classifier scored exactly the peak boxes it refined.
        scored['map boxes, stage scores'] = (cls_logits.sigmoid(), peak_boxes)
    results = {'head': head.predict_by_feat(steps, used, metas, rescale=True)}
    for name, (scores, bxs) in scored.items():
        results[name] = [
            head._predict_single([scores[i]], [bxs[i]], meta, rescale=True)
            for i, meta in enumerate(metas)
        ]
    return results


def main() -> None:
    args = parse_args()
    warnings.filterwarnings('ignore', category=FutureWarning)
    cfg = load_config(args.config, args.cfg_options)
    model = build_detector(cfg, args.checkpoint, args.device)
    if type(model.bbox_head).__name__ != 'DiffusionBoxHead' or model.bbox_head.objectness is None:
        raise SystemExit(f'{args.config}: needs a DiffusionBoxHead with an objectness map')
    loader = Runner.build_dataloader(cfg.test_dataloader)
    metrics = {}
    for name in VARIANTS:
        metric = METRICS.build(copy.deepcopy(cfg.test_evaluator))
        metric.dataset_meta = loader.dataset.metainfo
        metrics[name] = metric
    with torch.no_grad():
        for i, batch in enumerate(loader):
            data = model.data_preprocessor(batch, False)
            for name, results in decode_variants(model, data).items():
                samples = []
                for sample, pred in zip(data['data_samples'], results):
                    sample = sample.clone()
                    sample.pred_instances = pred
                    samples.append(sample.to_dict())
                metrics[name].process({}, samples)
            if (i + 1) % 200 == 0:
                print(f'{i + 1} / {len(loader)} images', flush=True)
    rows = {
        name: metric.evaluate(len(loader.dataset))
        for name, metric in metrics.items()
        if metric.results
    }
    keys = [
        k
        for k in next(iter(rows.values()))
        if k.endswith(('mAP', 'mAP_50', 'mAP_s', 'mAP_m', '_precision'))
    ]
    print('\n' + 'variant'.ljust(26) + ''.join(k.split('/')[-1][:14].rjust(15) for k in keys))
    for name, row in rows.items():
        print(name.ljust(26) + ''.join(f'{row[k]:>15.3f}' for k in keys))


if __name__ == '__main__':
    main()
