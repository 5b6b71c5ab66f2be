"""Metrics (registered in mmdet's METRICS)."""

from .coco_pr_curve_metric import CocoPRCurveMetric, write_pr_curves

__all__ = ['CocoPRCurveMetric', 'write_pr_curves']
