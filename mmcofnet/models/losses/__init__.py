"""Losses: the set-prediction criterion of the box head; the self-supervised pretraining losses."""

from .motion_segmentation_loss import MotionSegmentationLoss
from .set_criterion import SetCriterion
from .temporal_consistency_loss import TemporalConsistencyLoss

__all__ = ['MotionSegmentationLoss', 'SetCriterion', 'TemporalConsistencyLoss']
