"""The selective scan's parts in plain ONNX ops that ONNX Runtime runs fast.

The four scan orders of SS2D without in-place writes into views, softplus in elementwise ops, and
the chunked scan's loops under dynamic shapes.

``cross_scan`` and ``cross_merge`` write into slices of one buffer to save copies; the TorchScript
ONNX exporter does not carry such writes through views. These are the same functions out of
``stack``, ``flip`` and ``transpose`` (``tests/test_deploy`` holds them equal to the originals).
"""

from __future__ import annotations

import torch
from mmdeploy.core import FUNCTION_REWRITER
from mmdeploy.utils import is_dynamic_shape
from torch import Tensor


@FUNCTION_REWRITER.register_rewriter('mmcofnet.models.layers.vss_block.cross_scan')
def cross_scan__functional(x: Tensor) -> Tensor:
    """``[B, C, H, W]`` -> ``[B, 4, C, H * W]``: row-major, column-major, and both reversed."""
    pair = torch.stack([x.flatten(2), x.transpose(2, 3).flatten(2)], dim=1)
    return torch.cat([pair, pair.flip(-1)], dim=1)


@FUNCTION_REWRITER.register_rewriter('mmcofnet.models.layers.vss_block.cross_merge')
def cross_merge__functional(ys: Tensor, channels_last: bool = False) -> Tensor:
    """``[B, 4, C, H, W]`` per-direction sequences -> their sum in row-major order."""
    b, _, c, h, w = ys.shape
    ys = ys.flatten(3)
    merged = ys[:, 2:].flip(-1) + ys[:, :2]
    row_major = merged[:, 0].view(b, c, h, w) + merged[:, 1].view(b, c, w, h).transpose(2, 3)
    return row_major.permute(0, 2, 3, 1) if channels_last else row_major.flatten(2)


@FUNCTION_REWRITER.register_rewriter('torch.nn.functional.softplus')
def softplus__elementwise(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``F.softplus`` as ``relu(x) + log1p(exp(-beta |x|)) / beta`` (the scan's ``delta``).

    ONNX Runtime's Softplus kernel takes twice as long on a CPU as these elementwise ops; at
    ``beta * x > threshold`` the two differ by less than ``exp(-threshold)``.
    """
    return x.relu() + torch.log1p(torch.exp(-beta * x.abs())) / beta


# -- dynamic shapes ----------------------------------------------------------------------------
# The chunked scan's two loops run over ~sqrt(L) steps and ~sqrt(L) chunks, both unrolled at the
# traced size. With dynamic axes the steps per chunk become a constant (the loop over them stays
# unrolled) and the carry from chunk to chunk an ONNX Loop over however many chunks there are.
DYNAMIC_CHUNK = 64


@FUNCTION_REWRITER.register_rewriter('mmcofnet.models.ops.chunked_scan._chunk_size')
def chunk_size__dynamic(length) -> int:
    """A fixed chunk under dynamic shapes (the traced L says nothing of the input's)."""
    ctx = FUNCTION_REWRITER.get_context()
    return DYNAMIC_CHUNK if is_dynamic_shape(ctx.cfg) else ctx.origin_func(length)


@torch.jit.script
def _carry_loop(chunk_decays: Tensor, chunk_ends: Tensor) -> Tensor:
    """``_carry`` as a scripted loop: an ONNX Loop over the chunks, however many."""
    state = torch.zeros_like(chunk_ends[0])
    carried = [state]
    for c in range(chunk_ends.size(0) - 1):
        state = chunk_decays[c] * state + chunk_ends[c]
        carried.append(state)
    return torch.stack(carried)


@FUNCTION_REWRITER.register_rewriter('mmcofnet.models.ops.chunked_scan._carry')
def carry__dynamic(chunk_decays: Tensor, chunk_ends: Tensor) -> Tensor:
    """Under dynamic shapes the carry is a loop of the graph, not unrolled at the traced size."""
    ctx = FUNCTION_REWRITER.get_context()
    if not is_dynamic_shape(ctx.cfg):
        return ctx.origin_func(chunk_decays, chunk_ends)
    return _carry_loop(chunk_decays, chunk_ends)
