"""Models: ops, backbones, necks, heads, detectors and losses (registered on import)."""
from . import backbones, ops  # noqa: F401
