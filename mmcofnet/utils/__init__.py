"""Utilities."""

from .allocator import keep_freed_memory, release_freed_memory
from .checkpoint import register_checkpoint_safe_globals
from .dist import setup_cpu_distributed
from .sizes import size_tensor
from .timing import synchronize, time_call_ms, time_in_turns_ms
from .vis_backends import VIS_BACKENDS, add_vis_backends, check_vis_backends

__all__ = [
    'VIS_BACKENDS',
    'add_vis_backends',
    'check_vis_backends',
    'keep_freed_memory',
    'register_checkpoint_safe_globals',
    'release_freed_memory',
    'setup_cpu_distributed',
    'size_tensor',
    'synchronize',
    'time_call_ms',
    'time_in_turns_ms',
]
