"""Transforms of frame pairs (t, t+k) for self-supervised pretraining.

The recommended pipeline applies the geometric augmentation first and computes the motion
targets on what the network sees::

    pipeline = [
        dict(type='LoadFramePair'),
        dict(type='PairRandomCrop', crop_size=(320, 320)),
        dict(type='PairRandomFlip', prob=0.5),
        dict(type='MotionTargets'),
        dict(type='PackPairInputs'),
    ]

``PairRandomCrop`` and ``PairRandomFlip`` also transform ``flow`` and ``motion_mask`` when they
are already present, so a pipeline that computes the targets earlier, on the full frame, stays
consistent: the camera's motion is then fitted on more background (a crop of featureless sky
leaves little to fit), at about 4 times the cost for 640x512 frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmdet.structures import DetDataSample
from mmengine.structures import PixelData

from ..sky_renderer import render_frame
from ..sky_video_pairs import read_video_frames

# Per-pixel maps that follow the frames through the geometric augmentation.
_PAIR_MAPS = ('img', 'img_next', 'flow', 'motion_mask')


@TRANSFORMS.register_module()
class LoadFramePair(BaseTransform):
    """Draws a pair (t, t+k) of a :class:`SkyVideoPairDataset` clip and loads both frames.

    k is uniform in the sample's ``frame_gap_range`` (capped at ``num_frames - 1``) and t
    uniform such that t + k is in the clip, drawn from numpy's global generator at every call,
    as mmcv's random transforms do (mmengine seeds it per dataloader worker). A sample that
    already holds ``frame_index`` and ``frame_gap`` loads that pair instead (evaluation, tools).

    Required keys: ``source``, ``img_path``, ``num_frames``, ``frame_gap_range``, and
    ``frame_paths`` (frame folders) or ``scene`` (synthetic clips).
    Added keys: ``img``, ``img_next`` ([H, W, 3] uint8 BGR, frames t and t+k), ``frame_index``
    (t), ``frame_gap`` (k), ``img_shape``, ``ori_shape`` ((H, W)).

    Args:
        frame_gap (tuple[int, int], optional): Inclusive range of k that overrides the
            dataset's ``frame_gap``.
    """

    def __init__(self, frame_gap: tuple[int, int] | None = None) -> None:
        if frame_gap is not None and (len(frame_gap) != 2 or not 1 <= frame_gap[0] <= frame_gap[1]):
            raise ValueError(
                f'LoadFramePair: frame_gap={frame_gap} must be (lo, hi) with 1 <= lo <= hi'
            )
        self.frame_gap = None if frame_gap is None else (int(frame_gap[0]), int(frame_gap[1]))

    def _draw_pair(self, results: dict) -> tuple[int, int]:
        num_frames = int(results['num_frames'])
        if num_frames < 2:
            raise ValueError(f'LoadFramePair: {results["img_path"]} has {num_frames} frames (< 2)')
        if self.frame_gap is None and 'frame_gap_range' not in results:
            raise KeyError(
                f"LoadFramePair: the sample of {results['img_path']} has no 'frame_gap_range' "
                '(SkyVideoPairDataset sets it); give LoadFramePair a frame_gap'
            )
        lo, hi = self.frame_gap or results['frame_gap_range']
        hi = min(hi, num_frames - 1)
        lo = min(lo, hi)
        gap = np.random.randint(lo, hi + 1)
        start = np.random.randint(0, num_frames - gap)
        return int(start), int(gap)

    def transform(self, results: dict) -> dict:
        if 'frame_index' in results and 'frame_gap' in results:
            start, gap = int(results['frame_index']), int(results['frame_gap'])
            if start < 0 or gap < 1 or start + gap >= results['num_frames']:
                raise ValueError(
                    f'LoadFramePair: pair (t={start}, k={gap}) is outside {results["img_path"]} '
                    f'({results["num_frames"]} frames)'
                )
        else:
            start, gap = self._draw_pair(results)
        source = results.get('source')
        if source == 'video':
            img, img_next = read_video_frames(results['img_path'], start, gap)
        elif source == 'frames':
            img, img_next = (_read_image(results['frame_paths'][i]) for i in (start, start + gap))
        elif source == 'synthetic':
            img, img_next = (render_frame(results['scene'], t) for t in (start, start + gap))
        else:
            raise KeyError(
                f'LoadFramePair: unknown source {source!r} of {results.get("img_path")} (expected '
                "'video', 'frames' or 'synthetic', as SkyVideoPairDataset writes)"
            )
        if img.shape != img_next.shape:
            raise ValueError(
                f'LoadFramePair: frames {start} and {start + gap} of {results["img_path"]} have '
                f'different shapes {img.shape} and {img_next.shape}'
            )
        results.update(
            img=img,
            img_next=img_next,
            frame_index=start,
            frame_gap=gap,
            img_shape=img.shape[:2],
            ori_shape=img.shape[:2],
        )
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(frame_gap={self.frame_gap})'


def _read_image(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f'LoadFramePair: cannot read the frame {path}')
    return img


@TRANSFORMS.register_module()
class PairRandomCrop(BaseTransform):
    """One random window at native resolution, cut from both frames (and their targets).

    A frame smaller than the window is first padded on the right and bottom by replicating its
    edge pixels (``flow`` and ``motion_mask``, if present, are padded with zeros: no motion).

    Required keys: ``img``, ``img_next``. Modified keys: ``img``, ``img_next``, ``img_shape``,
    and ``flow`` ([H, W, 2]) and ``motion_mask`` ([H, W]) when present. Added key:
    ``crop_origin`` ((x0, y0) of the window in the frame).

    Args:
        crop_size (tuple[int, int]): Window size as (width, height).
    """

    def __init__(self, crop_size: tuple[int, int] = (320, 320)) -> None:
        if len(crop_size) != 2 or min(crop_size) < 1:
            raise ValueError(f'PairRandomCrop: crop_size={crop_size} must be (width, height) > 0')
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))

    def transform(self, results: dict) -> dict:
        crop_w, crop_h = self.crop_size
        img_h, img_w = results['img'].shape[:2]
        pad_w, pad_h = max(crop_w - img_w, 0), max(crop_h - img_h, 0)
        x0 = np.random.randint(0, max(img_w - crop_w, 0) + 1)
        y0 = np.random.randint(0, max(img_h - crop_h, 0) + 1)
        for key in _PAIR_MAPS:
            if key not in results:
                continue
            value = results[key]
            if pad_w or pad_h:
                is_frame = key.startswith('img')
                value = cv2.copyMakeBorder(
                    value,
                    0,
                    pad_h,
                    0,
                    pad_w,
                    cv2.BORDER_REPLICATE if is_frame else cv2.BORDER_CONSTANT,
                    value=0,
                )
            results[key] = np.ascontiguousarray(value[y0 : y0 + crop_h, x0 : x0 + crop_w])
        results['img_shape'] = (crop_h, crop_w)
        results['crop_origin'] = (int(x0), int(y0))
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(crop_size={self.crop_size})'


@TRANSFORMS.register_module()
class PairRandomFlip(BaseTransform):
    """Horizontal flip of both frames with probability ``prob``.

    A ``flow`` already present is flipped with them and its dx negated (a flow computed on the
    flipped frames is exactly that); ``motion_mask`` is flipped too. The recommended order
    computes the targets after this transform (see the module's docstring).

    Required keys: ``img``, ``img_next``. Modified keys: ``img``, ``img_next``, and ``flow``
    ([H, W, 2]) and ``motion_mask`` ([H, W]) when present. Added keys: ``flip`` (bool),
    ``flip_direction`` (``'horizontal'`` or None).

    Args:
        prob (float): Probability of the flip.
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'PairRandomFlip: prob={prob} must be in [0, 1]')
        self.prob = prob

    def transform(self, results: dict) -> dict:
        flip = bool(np.random.rand() < self.prob)
        results['flip'] = flip
        results['flip_direction'] = 'horizontal' if flip else None
        if not flip:
            return results
        for key in _PAIR_MAPS:
            if key in results:
                results[key] = np.ascontiguousarray(results[key][:, ::-1])
        if 'flow' in results:
            results['flow'][..., 0] *= -1
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob})'


@TRANSFORMS.register_module()
class PackPairInputs(BaseTransform):
    """Packs a frame pair and its motion targets for :class:`COFNetSSL`.

    Required keys: ``img``, ``img_next``, ``flow``, ``motion_mask`` (see ``MotionTargets``)
    and the ``meta_keys``.

    Returns a dict with:

    - ``inputs`` (torch.Tensor): uint8 [6, H, W], frame t's BGR channels, then frame t+k's.
    - ``data_samples`` (DetDataSample): metainfo from ``meta_keys`` (``pad_shape`` is
      ``img_shape``, ``scale_factor`` (1.0, 1.0) and ``flip`` False unless present), and the
      fields ``motion_mask`` (PixelData, ``data`` float32 [1, H, W] of 0/1) and ``flow``
      (PixelData, ``data`` float32 [2, H, W], displacement in pixels from frame t to frame t+k:
      channel 0 dx, channel 1 dy).

    Args:
        meta_keys (Sequence[str]): Keys copied into the data sample's metainfo.
    """

    def __init__(
        self,
        meta_keys: Sequence[str] = (
            'img_path',
            'frame_index',
            'frame_gap',
            'img_shape',
            'ori_shape',
            'pad_shape',
            'scale_factor',
            'flip',
            'flip_direction',
        ),
    ) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        missing = [key for key in ('img', 'img_next', 'flow', 'motion_mask') if key not in results]
        if missing:
            raise KeyError(
                f'PackPairInputs: the sample of {results.get("img_path")} has no {missing}; '
                'add MotionTargets to the pipeline before PackPairInputs'
            )
        img, img_next = results['img'], results['img_next']
        if img.shape != img_next.shape or img.ndim != 3:
            raise ValueError(
                f'PackPairInputs: frames of {results.get("img_path")} have shapes {img.shape} '
                f'and {img_next.shape}; expected two equal [H, W, 3]'
            )
        pair = np.concatenate([img, img_next], axis=2).transpose(2, 0, 1)
        inputs = torch.from_numpy(np.ascontiguousarray(pair))

        defaults = dict(
            pad_shape=img.shape[:2], scale_factor=(1.0, 1.0), flip=False, flip_direction=None
        )
        meta = {**defaults, **{k: results[k] for k in self.meta_keys if k in results}}
        meta = {k: meta[k] for k in self.meta_keys if k in meta}
        data_sample = DetDataSample(metainfo=meta)
        mask = torch.from_numpy(np.ascontiguousarray(results['motion_mask'], np.float32))
        flow = np.ascontiguousarray(results['flow'].transpose(2, 0, 1), np.float32)
        flow = torch.from_numpy(flow)
        data_sample.set_field(PixelData(data=mask[None]), 'motion_mask')
        data_sample.set_field(PixelData(data=flow), 'flow')
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
