"""CPU allocator tuning for the command-line tools.

At high resolution the backbone's activations are tens of MB each. glibc serves every allocation
above its mmap threshold (32 MB at most) with fresh pages from the kernel and returns them on
free, so each forward pass page-faults through every large tensor again: at 1280x1280 this costs
about a quarter of MambaBackbone-nano's CPU time (measured with
tools/analysis_tools/benchmark_backbone.py). Serving large blocks from the heap and not trimming it
keeps the pages mapped between passes, as jemalloc or tcmalloc setups do. The price is that the
process keeps its peak memory until it exits, which suits training, testing and benchmarking.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Tells glibc's malloc to reuse freed memory instead of unmapping it.

    A no-op (returns False) where the C library is not glibc, or when the environment variable
    ``MMCOFNET_ALLOCATOR_TUNING=0`` is set.

    Returns:
        bool: Whether the setting was applied.
    """
    if os.environ.get('MMCOFNET_ALLOCATOR_TUNING', '1') == '0':
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))


def release_freed_memory() -> bool:
    """Gives the memory that glibc's malloc holds free back to the kernel (``malloc_trim(0)``).

    Undoes, once, what :func:`keep_freed_memory` keeps: a tool that measures the peak memory of a
    pass (resident set growth) calls it first, so that the pass cannot reuse pages that earlier
    passes left mapped.

    Returns:
        bool: Whether memory was released; False where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        malloc_trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    return bool(malloc_trim(0))
