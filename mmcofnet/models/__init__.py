"""Models: ops, layers, backbones, necks, heads, losses, detectors (in mmdet's MODELS)."""

from . import backbones, dense_heads, detectors, losses, necks, ops, task_modules  # noqa: F401
