"""SkyPairDataPreprocessor: normalises and pads the two frames of a video pair."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class SkyPairDataPreprocessor(DetDataPreprocessor):
    """mmdet's ``DetDataPreprocessor`` for frame pairs ``(t, t + k)``.

    Each input (from ``PackPairInputs``) is a ``[6, H, W]`` tensor: frame t's three channels,
    then frame t + k's. Both frames are preprocessed exactly as ``DetDataPreprocessor``
    preprocesses a batch of single images (channel conversion, mean/std, padding to
    ``pad_size_divisor`` and to the batch's largest image), and joined again along the channels:
    ``inputs`` is ``[B, 6, H', W']``, frame t first. The data samples get ``batch_input_shape``
    and ``pad_shape`` as ``DetDataPreprocessor`` sets them; their ``motion_mask`` and ``flow``
    are left as they are (the detector pads them to the batch).

    Arguments are those of ``DetDataPreprocessor``, except ``batch_augments``: a batch
    augmentation would transform the two frames of a pair differently, so it is refused (augment
    pairs in the data pipeline, which applies the same geometry to both frames).
    """

    def __init__(self, *args, batch_augments: list[dict] | None = None, **kwargs) -> None:
        if batch_augments:
            raise ValueError(
                f'SkyPairDataPreprocessor: batch_augments={batch_augments} is not supported '
                '(it would transform the two frames of a pair differently); augment pairs in '
                'the data pipeline'
            )
        super().__init__(*args, **kwargs)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalises, pads and batches the frames of each pair.

        Args:
            data (dict): ``inputs`` (a list of ``[6, H_i, W_i]`` tensors, or a ``[B, 6, H, W]``
                tensor) and ``data_samples`` from the data loader.
            training (bool): Whether the batch is for training.

        Returns:
            dict: ``inputs`` ``[B, 6, H', W']`` float (frame t's channels, then frame t + k's)
            and ``data_samples``.
        """
        frames = split_pairs(data['inputs'])
        num_pairs = len(frames) // 2 if isinstance(frames, list) else frames.shape[0] // 2
        # One call on the 2B frames: every pair's frames have the same size, so the batch pads
        # to the same shape as the frames t (or t + k) alone would.
        out = super().forward(dict(data, inputs=frames), training=training)
        inputs = out['inputs']
        out['inputs'] = torch.cat([inputs[:num_pairs], inputs[num_pairs:]], dim=1)
        return out


def split_pairs(inputs: Sequence[Tensor] | Tensor) -> list[Tensor] | Tensor:
    """Frame pairs -> the frames t of every pair, then the frames t + k.

    Args:
        inputs (Sequence[Tensor] | Tensor): ``[6, H_i, W_i]`` per pair, or ``[B, 6, H, W]``.

    Returns:
        list[Tensor] | Tensor: ``2B`` tensors ``[3, H_i, W_i]``, or ``[2B, 3, H, W]``.
    """
    if isinstance(inputs, Tensor):
        if inputs.dim() != 4 or inputs.shape[1] != 6:
            raise ValueError(
                'SkyPairDataPreprocessor: inputs must be [B, 6, H, W] frame pairs, got '
                f'{tuple(inputs.shape)}'
            )
        return torch.cat([inputs[:, :3], inputs[:, 3:]], dim=0)
    for i, pair in enumerate(inputs):
        if not isinstance(pair, Tensor) or pair.dim() != 3 or pair.shape[0] != 6:
            shape = tuple(pair.shape) if isinstance(pair, Tensor) else type(pair).__name__
            raise ValueError(
                f'SkyPairDataPreprocessor: inputs[{i}] must be a [6, H, W] frame pair '
                f'(PackPairInputs), got {shape}'
            )
    return [pair[:3] for pair in inputs] + [pair[3:] for pair in inputs]
