"""Losses: the set-prediction criterion of the box head."""

from .set_criterion import SetCriterion

__all__ = ['SetCriterion']
