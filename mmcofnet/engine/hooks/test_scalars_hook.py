"""Hands the scalar test metrics to the visualizer's backends (TensorBoard, W&B, ...)."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.runner import Runner


def _is_scalar(value: object) -> bool:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return value.size == 1 if isinstance(value, np.ndarray) else value.numel() == 1
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


@HOOKS.register_module()
class TestScalarsHook(Hook):
    """Writes the test metrics (``coco/bbox_mAP``, ``fps``, ...) to every visualizer backend.

    mmengine's ``LoggerHook`` sends training losses and validation metrics to the visualizer,
    whose ``vis_backends`` (``LocalVisBackend``, ``TensorboardVisBackend``, ``WandbVisBackend``)
    record them, but it only prints and dumps the test metrics. This hook adds them, as
    ``test/<name>`` at step ``runner.iter``, so that a test run shows up in TensorBoard or W&B
    (and in ``vis_data/scalars.json``) like a validation does. Non-scalar metrics are skipped.
    """

    priority = 'BELOW_NORMAL'

    def after_test_epoch(self, runner: Runner, metrics: dict[str, float] | None = None) -> None:
        scalars = {
            f'test/{key}': float(value)
            for key, value in (metrics or {}).items()
            if _is_scalar(value)
        }
        if scalars:
            runner.visualizer.add_scalars(scalars, step=runner.iter)
