"""Lets torch >= 2.6 load the checkpoints that mmengine 0.10 writes.

torch 2.6 made ``torch.load`` default to ``weights_only=True``, which only unpickles allow-listed
globals. mmengine's checkpoints also hold the message hub: ``HistoryBuffer`` objects backed by numpy
arrays, whose statistics methods are pickled as ``getattr(HistoryBuffer, 'mean')``, and numpy
scalars. ``--resume`` and ``load_from`` then fail with an ``UnpicklingError``. Allow-listing
exactly those globals keeps the safe loader (no arbitrary code runs) instead of switching it off;
``getattr`` in particular is replaced by a version that only resolves HistoryBuffer's statistics.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

# HistoryBuffer's built-in statistics; custom ones registered with register_statistics are added.
_HISTORY_STATISTICS = frozenset({'min', 'max', 'mean', 'current'})


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to the statistics methods of mmengine's ``HistoryBuffer``."""
    allowed = _HISTORY_STATISTICS | set(HistoryBuffer._statistics_methods)
    is_buffer = obj is HistoryBuffer or isinstance(obj, HistoryBuffer)
    if not is_buffer or name not in allowed:
        raise pickle.UnpicklingError(
            f'checkpoint asks for getattr({getattr(obj, "__name__", type(obj).__name__)}, '
            f'{name!r}); only the statistics methods of HistoryBuffer ({sorted(allowed)}) are '
            'allowed'
        )
    return getattr(obj, name)


def _numpy_globals() -> list:
    core = getattr(np, '_core', None) or np.core  # numpy >= 2 renamed np.core to np._core
    types = [np.ndarray, np.dtype, core.multiarray._reconstruct, core.multiarray.scalar]
    types += [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith('DType')]
    return types


def register_checkpoint_safe_globals() -> None:
    """Allow-lists the non-tensor globals of mmengine checkpoints for ``torch.load``."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4 loads everything anyway
        return
    add_safe_globals(
        [HistoryBuffer, (history_buffer_getattr, 'builtins.getattr'), *_numpy_globals()]
    )
