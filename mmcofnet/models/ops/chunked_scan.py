"""The chunked linear scan behind the selective scan's pure-torch backend.

``x_t = a_t x_{t-1} + b_t`` over L steps in two loops of ~sqrt(L) tensor iterations each. Its own
module so that the ONNX export can swap :func:`_chunk_size` and :func:`_carry` for their
dynamic-shape forms (``mmcofnet/deploy/scan_rewriters.py``).
"""

import math
from typing import List

import torch
import torch.nn.functional as F
from torch import Tensor


def _chunk_size(length: int) -> int:
    """Steps per chunk of the chunked scan: ~sqrt(L), which balances its two loops."""
    return max(1, math.isqrt(length))


class ChunkLayout:
    """Step-major chunk layout ``[K, batch, ..., n_chunks]`` of a length-L sequence.

    The sequence is cut into ``n_chunks`` chunks of ``K`` ~ sqrt(L) steps (zero-padded at the
    end). Putting the step within a chunk first makes each step of the chunked scan a contiguous
    slice, so the scan loops run on dense tensors.
    """

    def __init__(self, length: int):
        self.length = length
        self.chunk = _chunk_size(length)
        # Ceil as a positive floor division: traced, -(-a // b) exports as ONNX's truncating Div.
        self.n_chunks = (length + self.chunk - 1) // self.chunk
        self.pad = self.n_chunks * self.chunk - self.length

    def split(self, t: Tensor) -> Tensor:
        """``[..., L]`` -> ``[K, ..., n_chunks]``."""
        # Always padded while tracing: the traced size may need no padding where another does.
        t = F.pad(t, (0, self.pad)) if self.pad or torch.jit.is_tracing() else t
        t = t.unflatten(-1, (self.n_chunks, self.chunk))
        # contiguous: elementwise results follow their inputs' memory layout. Positive dims:
        # the TorchScript ONNX exporter writes movedim(-1, 0) as an invalid Transpose.
        return t.movedim(t.dim() - 1, 0).contiguous()

    def merge(self, t: Tensor) -> Tensor:
        """``[K, ..., n_chunks]`` -> ``[..., L]``."""
        return t.movedim(0, t.dim() - 1).flatten(-2)[..., : self.length]


def scan_chunks(log_decay: Tensor, inputs: Tensor) -> Tensor:
    """States of ``x_t = exp(log_decay_t) x_{t-1} + inputs_t``, chunked ``[K, ..., n_chunks, N]``.

    One loop over the step index scans every chunk at once from a zero state; a second loop over
    chunks carries the true start state, which reaches step k of a chunk multiplied by the chunk's
    cumulative decay up to k. That is 2 sqrt(L) tensor iterations instead of L, and only products
    of decays (no divisions, nothing that overflows), so it is as stable as the sequential scan.
    """
    # unbind() rather than indexing in the loops: the backward of `t[k]` writes into a zero
    # tensor of the full size at every step, unbind's is one stack.
    decays, steps = log_decay.exp().unbind(0), inputs.unbind(0)
    # From a zero state, the first step's state is its input (no zeros_like: a trace would
    # freeze its size). Cumulative decays by explicit products (cumprod's backward divides by
    # the decays, which may be tiny; exp(cumsum) along the outer dim is slower on CPU).
    x = steps[0]
    local: List[Tensor] = [x]
    cumulative: List[Tensor] = [decays[0]]
    for decay_k, inputs_k in zip(decays[1:], steps[1:]):
        x = decay_k * x + inputs_k
        local.append(x)
        cumulative.append(cumulative[-1] * decay_k)
    local_states = torch.stack(local)
    cumulative_decay = torch.stack(cumulative)

    chunk_dim = x.dim() - 2  # positive dims: the ONNX exporter mis-places negative ones here
    start_states = _carry(
        cumulative_decay[-1].movedim(chunk_dim, 0), local[-1].movedim(chunk_dim, 0)
    )
    return local_states + cumulative_decay * start_states.movedim(0, chunk_dim)


def _carry(chunk_decays: Tensor, chunk_ends: Tensor) -> Tensor:
    """Each chunk's true start state ``[n_chunks, ...]``, carried from chunk to chunk.

    Args:
        chunk_decays (Tensor): ``[n_chunks, ...]`` each chunk's total decay.
        chunk_ends (Tensor): ``[n_chunks, ...]`` each chunk's end state from a zero start.
    """
    carried: List[Tensor] = [torch.zeros_like(chunk_ends[0])]
    for decay, end in zip(chunk_decays.unbind(0)[:-1], chunk_ends.unbind(0)[:-1]):
        carried.append(decay * carried[-1] + end)
    return torch.stack(carried)
