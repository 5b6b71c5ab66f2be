"""Models: ops, layers, backbones, necks, heads, detectors (registered in mmdet's MODELS)."""
from . import backbones, dense_heads, detectors, necks, ops, task_modules  # noqa: F401
