"""Tensor sizes that stay symbolic while a model is traced for export."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def size_tensor(values: Sequence[int | Tensor], device: torch.device | None = None) -> Tensor:
    """``[len(values)]`` int64 tensor of sizes.

    While ``torch.jit.trace`` runs, ``tensor.shape`` holds 0-dim tensors; ``torch.tensor`` of
    them would freeze the traced sizes into the graph, stacking them keeps them symbolic (an
    export with dynamic axes then works at any input size). Plain ints give the same values.
    """
    return torch.stack(
        [v.long() if isinstance(v, Tensor) else torch.tensor(v, dtype=torch.long) for v in values]
    ).to(device)
