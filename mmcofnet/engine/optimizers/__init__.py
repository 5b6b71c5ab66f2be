"""Optimizer wrappers (registered in mmdet's OPTIM_WRAPPERS)."""

from .skip_non_finite_optim_wrapper import SkipNonFiniteOptimWrapper

__all__ = ['SkipNonFiniteOptimWrapper']
