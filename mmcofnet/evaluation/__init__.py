"""Evaluation: metrics (registered in mmdet's METRICS)."""

from .metrics import CocoPRCurveMetric, write_pr_curves

__all__ = ['CocoPRCurveMetric', 'write_pr_curves']
