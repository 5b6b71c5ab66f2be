"""Lets torch >= 2.6 load the checkpoints that mmengine 0.10 writes.

torch 2.6 made ``torch.load`` default to ``weights_only=True``, which only unpickles allow-listed
types. mmengine's checkpoints also hold the message hub (``HistoryBuffer`` objects backed by numpy
arrays) and numpy scalars in ``meta``, so ``--resume`` and ``load_from`` fail with an
``UnpicklingError``. Allow-listing exactly those types keeps the safe loader (no arbitrary code
runs) instead of switching it off.
"""
from __future__ import annotations

import numpy as np
import torch


def _numpy_types() -> list:
    core = getattr(np, '_core', None) or np.core  # numpy >= 2 renamed np.core to np._core
    types = [np.ndarray, np.dtype, core.multiarray._reconstruct, core.multiarray.scalar]
    types += [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith('DType')]
    return types


def register_checkpoint_safe_globals() -> None:
    """Allow-lists the non-tensor types found in mmengine checkpoints for ``torch.load``."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4 loads everything anyway
        return
    from mmengine.logging import HistoryBuffer
    add_safe_globals([HistoryBuffer, *_numpy_types()])
