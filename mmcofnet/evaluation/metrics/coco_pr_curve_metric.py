"""mmdet's CocoMetric that also writes per-class precision-recall curves (PNG and JSON)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import os.path as osp
import re
import tempfile

import numpy as np
from mmdet.datasets.api_wrappers import COCOeval
from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS
from mmengine.logging import MMLogger


@METRICS.register_module()
class CocoPRCurveMetric(CocoMetric):
    """``CocoMetric`` that also writes per-class precision-recall curves at one IoU threshold.

    ``CocoMetric`` keeps only the averages of COCOeval's precision table. After computing its
    metrics, this metric evaluates the boxes once more at ``pr_iou_thr`` alone (area range
    'all', the last of ``proposal_nums`` as the detection limit, as mmdet's per-class table does),
    which costs a fraction of the full evaluation, and reads ``eval['precision']`` (shape
    ``[T, R, K, A, M]``: IoU thresholds, 101 recall thresholds, classes, area ranges, detection
    limits). It writes to ``pr_curve_dir``:

    - ``pr_curves.png``: every class in one plot, each labelled with its AP at that IoU;
    - ``pr_curve_<class>.png``: one plot per class;
    - ``pr_curves.json``: ``iou_thr``, ``recall`` (the 101 thresholds) and, per class,
      ``precision`` (101 values, 0 beyond the highest recall reached), ``max_recall`` and ``ap``.

    Classes without ground truth in the test set are left out. The metrics returned are those of
    ``CocoMetric``. Select it in a config with ``test_evaluator = dict(type='CocoPRCurveMetric',
    pr_curve_dir=..., ...)``, or with ``tools/test.py --pr-curves DIR``.

    Args:
        pr_curve_dir (str): Folder for the files. Defaults to ``'pr_curves'``.
        pr_iou_thr (float): IoU threshold of the curves. Defaults to 0.5.
        **kwargs: Arguments of ``CocoMetric``.
    """

    def __init__(self, pr_curve_dir: str = 'pr_curves', pr_iou_thr: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0 < pr_iou_thr < 1:
            raise ValueError(f'pr_iou_thr must be in (0, 1), got {pr_iou_thr}')
        self.pr_curve_dir = pr_curve_dir
        self.pr_iou_thr = pr_iou_thr

    def compute_metrics(self, results: list) -> dict[str, float]:
        eval_results = super().compute_metrics(results)
        logger = MMLogger.get_current_instance()
        if 'bbox' not in self.metrics or self.format_only:
            logger.warning('CocoPRCurveMetric draws curves for metric="bbox" only: none written')
            return eval_results
        curves = self.pr_curves([pred for _, pred in results])
        if curves is None:
            logger.warning('No detections in the test set: no precision-recall curves written')
            return eval_results
        written = write_pr_curves(curves, self.pr_curve_dir)
        logger.info(
            f'Precision-recall curves (IoU {self.pr_iou_thr}) written to {osp.dirname(written[0])}'
        )
        return eval_results

    def pr_curves(self, preds: list[dict]) -> dict | None:
        """Precision at the 101 COCO recall thresholds for each class at ``pr_iou_thr``.

        Args:
            preds (list[dict]): The predictions of ``process`` (``img_id``, ``bboxes``,
                ``scores``, ``labels``).

        Returns:
            dict | None: ``iou_thr``, ``recall`` (list of 101 floats) and ``classes``: for each
            class with ground truth, ``precision`` (list of 101 floats), ``max_recall`` and
            ``ap``. None if there is no detection at all.
        """
        with tempfile.TemporaryDirectory() as tmp_dir:
            result_files = self.results2json(preds, osp.join(tmp_dir, 'results'))
            with open(result_files['bbox']) as f:
                detections = json.load(f)
        if not detections:
            return None
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
            coco_eval = COCOeval(self._coco_api, self._coco_api.loadRes(detections), 'bbox')
            params = coco_eval.params
            params.catIds, params.imgIds = self.cat_ids, self.img_ids
            params.iouThrs = np.array([self.pr_iou_thr])
            params.areaRng, params.areaRngLbl = [[0, 1e10]], ['all']
            params.maxDets = [list(self.proposal_nums)[-1]]
            coco_eval.evaluate()
            coco_eval.accumulate()
        precision = coco_eval.eval['precision'][0, :, :, 0, -1]  # [R, K]
        recall = coco_eval.eval['recall'][0, :, 0, -1]  # [K]
        classes = {}
        for k, cat_id in enumerate(self.cat_ids):
            if recall[k] < 0:  # -1: no ground truth of this class
                continue
            name = self._coco_api.load_cats(cat_id)[0]['name']
            classes[name] = dict(
                precision=[round(float(p), 5) for p in precision[:, k]],
                max_recall=round(float(recall[k]), 5),
                ap=round(float(precision[:, k].mean()), 5),
            )
        return dict(
            iou_thr=self.pr_iou_thr,
            recall=[round(float(r), 5) for r in params.recThrs],
            classes=classes,
        )


def write_pr_curves(curves: dict, out_dir: str) -> list[str]:
    """Writes the curves of :meth:`CocoPRCurveMetric.pr_curves` as PNG and JSON files.

    Args:
        curves (dict): ``iou_thr``, ``recall`` and per-class ``precision``/``max_recall``/``ap``.
        out_dir (str): Folder, created if missing.

    Returns:
        list[str]: The files written, ``pr_curves.png`` first.
    """
    from matplotlib.figure import Figure  # the object API: no pyplot state, Agg for PNG

    os.makedirs(out_dir, exist_ok=True)
    recall = np.asarray(curves['recall'])
    title = f'Precision-recall at IoU {curves["iou_thr"]:g}'

    def draw(ax, name: str, curve: dict) -> None:
        reached = recall <= curve['max_recall'] + 1e-9  # beyond it COCOeval stores 0
        ax.plot(
            recall[reached],
            np.asarray(curve['precision'])[reached],
            label=f'{name} (AP {curve["ap"]:.3f})',
        )

    def save(fig: Figure, ax, path: str) -> None:
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel='recall', ylabel='precision', title=title)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(loc='upper right', fontsize='small')
        fig.savefig(path, dpi=100)

    written = [osp.join(out_dir, 'pr_curves.png')]
    fig = Figure(figsize=(6, 5), layout='tight')
    ax = fig.add_subplot()
    for name, curve in curves['classes'].items():
        draw(ax, name, curve)
    save(fig, ax, written[0])
    for name, curve in curves['classes'].items():
        fig = Figure(figsize=(5, 4), layout='tight')
        ax = fig.add_subplot()
        draw(ax, name, curve)
        written.append(osp.join(out_dir, f'pr_curve_{re.sub(r"[^A-Za-z0-9_.-]", "_", name)}.png'))
        save(fig, ax, written[-1])
    written.append(osp.join(out_dir, 'pr_curves.json'))
    with open(written[-1], 'w') as f:
        json.dump(curves, f)
    return written
