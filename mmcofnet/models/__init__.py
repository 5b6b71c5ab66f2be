"""Models: ops, layers, backbones, necks, heads, losses, detectors, data preprocessors."""

from . import (  # noqa: F401
    backbones,
    data_preprocessors,
    dense_heads,
    detectors,
    losses,
    necks,
    ops,
    task_modules,
)
