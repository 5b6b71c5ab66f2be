"""Data preprocessors (in mmdet's MODELS)."""

from .pair_data_preprocessor import SkyPairDataPreprocessor

__all__ = ['SkyPairDataPreprocessor']
