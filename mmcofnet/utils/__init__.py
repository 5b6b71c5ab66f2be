"""Utilities."""
from .allocator import keep_freed_memory
from .checkpoint import register_checkpoint_safe_globals

__all__ = ['keep_freed_memory', 'register_checkpoint_safe_globals']
