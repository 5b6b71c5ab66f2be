"""Models: ops, layers, backbones, necks (registered in mmdet's MODELS on import)."""
from . import backbones, necks, ops  # noqa: F401
