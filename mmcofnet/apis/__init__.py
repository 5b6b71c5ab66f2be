"""Inference and model building: mmdet's DetInferencer for every config, detectors from configs."""

from .inference import build_detector, load_config, load_test_batches, random_batch
from .inferencer import SkyInferencer

__all__ = ['SkyInferencer', 'build_detector', 'load_config', 'load_test_batches', 'random_batch']
