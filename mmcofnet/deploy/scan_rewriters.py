"""The four scan orders of SS2D without in-place writes into views, for the ONNX export.

``cross_scan`` and ``cross_merge`` write into slices of one buffer to save copies; the TorchScript
ONNX exporter does not carry such writes through views. These are the same functions out of
``stack``, ``flip`` and ``transpose`` (``tests/test_deploy`` holds them equal to the originals).
"""

from __future__ import annotations

import torch
from mmdeploy.core import FUNCTION_REWRITER
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
