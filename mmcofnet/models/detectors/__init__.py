"""Detectors."""

from .cofnet import COFNet

__all__ = ['COFNet']
