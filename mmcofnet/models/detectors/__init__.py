"""Detectors."""

from .cofnet import COFNet
from .cofnet_ssl import COFNetSSL

__all__ = ['COFNet', 'COFNetSSL']
