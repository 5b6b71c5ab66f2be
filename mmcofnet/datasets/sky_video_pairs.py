"""SkyVideoPairDataset: unlabelled frame pairs (t, t+k) for self-supervised pretraining.

Clips come from video files, from folders of frames, or from the procedural sky renderer. The
dataset only lists clips (one data info per sampled pair); which pair a sample is, and its
pixels, are decided by :class:`~mmcofnet.datasets.transforms.LoadFramePair` at the start of the
pipeline, so every epoch sees new pairs.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import math
import os
import os.path as osp
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
from mmdet.registry import DATASETS
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from .sky_renderer import SkyScene, SkySceneSampler

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.m4v', '.mpg', '.mpeg', '.webm')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')

# Objects and camera of synthetic clips move unless the config's scene_cfg says otherwise.
SYNTHETIC_SCENE_DEFAULTS = dict(max_speed=2.0, max_pan=2.0)


def probe_video(path: str) -> tuple[int, int, int] | str:
    """Checks that a video can serve frame pairs.

    Args:
        path (str): Video file.

    Returns:
        tuple[int, int, int] | str: ``(num_frames, width, height)`` of a readable video, or the
        reason why it is not: it cannot be opened, reports fewer than 2 frames, or its last
        reported frame cannot be decoded (a truncated file).
    """
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            return 'cannot be opened'
        num_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if num_frames < 2:
            return f'has {max(num_frames, 0)} frames (a pair needs 2)'
        cap.set(cv2.CAP_PROP_POS_FRAMES, num_frames - 1)
        ok, frame = cap.read()
        if not ok or frame is None:
            return f'its last frame ({num_frames - 1} of {num_frames} reported) cannot be read'
        return num_frames, frame.shape[1], frame.shape[0]
    finally:
        cap.release()


def read_video_frames(path: str, start: int, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Reads frames ``start`` and ``start + gap`` of a video (one seek, then sequential).

    Args:
        path (str): Video file.
        start (int): Index of the first frame (0-based).
        gap (int): Frames from the first to the second (>= 1).

    Returns:
        tuple[np.ndarray, np.ndarray]: Both frames, [H, W, 3] uint8 BGR.

    Raises:
        OSError: When the video cannot be opened or a frame cannot be decoded, naming the file
            and the frame.
    """
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise OSError(f'{path}: cannot open the video')
        cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        ok, first = cap.read()
        if not ok:
            raise OSError(f'{path}: cannot decode frame {start}')
        for _ in range(gap - 1):  # grab() skips the colour conversion of frames in between
            if not cap.grab():
                raise OSError(f'{path}: cannot decode frame {start + gap} (video ended early)')
        ok, second = cap.read()
        if not ok:
            raise OSError(f'{path}: cannot decode frame {start + gap}')
        return first, second
    finally:
        cap.release()


def list_frame_files(folder: str) -> list[str]:
    """Image files of a frame folder, sorted by name (the clip's frame order)."""
    return sorted(
        osp.join(folder, name)
        for name in os.listdir(folder)
        if name.lower().endswith(IMAGE_EXTENSIONS)
    )


@DATASETS.register_module()
class SkyVideoPairDataset(BaseDataset):
    """Frame pairs (t, t+k) of unlabelled sky clips, for self-supervised pretraining.

    Sources (any combination):

    - ``video_glob`` under ``data_root`` (e.g. ``'videos/train/*.mp4'``): a matched file is a
      video read with OpenCV; a matched folder is a clip of the images in it, sorted by name.
      A video that cannot be opened, has fewer than 2 frames, or whose last reported frame
      cannot be decoded (a truncated file) is skipped with a warning naming it, as is a folder
      with fewer than 2 images.
    - ``synthetic=dict(num_clips, img_size=(w, h), seed, num_frames, scene_cfg)``: clips of the
      procedural renderer (:func:`render_frame`) in which objects move and the camera pans;
      ``scene_cfg`` holds :class:`SkySceneSampler` arguments, by default
      ``max_speed=2.0, max_pan=2.0`` (px per frame). The scene's background margin covers the
      pan over the whole clip.

    Every clip gives ``pairs_per_clip`` samples, so ``len(dataset)`` is clips x pairs_per_clip.
    A data info names its clip, not a pair: ``LoadFramePair`` draws the pair (t, k), k uniform
    in ``frame_gap`` and t such that t + k is in the clip, anew at every call (training
    augmentation). Data info keys: ``source`` (``'video'``, ``'frames'`` or ``'synthetic'``),
    ``img_path`` (the video, the folder, or a name of the synthetic clip), ``num_frames``,
    ``width``, ``height``, ``frame_gap_range`` and ``clip_index``, plus ``frame_paths`` (frame
    folders) or ``scene`` (synthetic clips). There are no labels.

    Args:
        data_root (str): Root that ``video_glob`` is relative to.
        video_glob (str | Sequence[str], optional): Glob pattern(s) of videos and frame
            folders (``**`` recurses).
        synthetic (dict, optional): Synthetic clips: ``num_clips`` (int), ``img_size``
            (tuple[int, int], (w, h), default (640, 512)), ``seed`` (int, default 0),
            ``num_frames`` (int, default 16) and ``scene_cfg`` (dict, optional).
        frame_gap (tuple[int, int]): Inclusive range of the gap k between the frames of a pair.
        pairs_per_clip (int): Samples per clip in one pass over the dataset.
        **kwargs: Arguments of :class:`mmengine.dataset.BaseDataset` (``pipeline``,
            ``serialize_data``, ``indices``, ...). ``ann_file`` is not used.

    Raises:
        ValueError: On invalid arguments, or when no source gives a readable clip (naming
            ``data_root`` and the glob).
    """

    METAINFO = dict(classes=())

    def __init__(
        self,
        data_root: str = '',
        video_glob: str | Sequence[str] | None = None,
        synthetic: dict | None = None,
        frame_gap: tuple[int, int] = (1, 3),
        pairs_per_clip: int = 1,
        **kwargs: Any,
    ) -> None:
        if video_glob is None and synthetic is None:
            raise ValueError('SkyVideoPairDataset: give video_glob, synthetic, or both')
        if len(frame_gap) != 2 or not 1 <= frame_gap[0] <= frame_gap[1]:
            raise ValueError(
                f'SkyVideoPairDataset: frame_gap={frame_gap} must be (lo, hi) with 1 <= lo <= hi'
            )
        if pairs_per_clip < 1:
            raise ValueError(f'SkyVideoPairDataset: pairs_per_clip={pairs_per_clip} must be >= 1')
        self.video_glob = [video_glob] if isinstance(video_glob, str) else list(video_glob or [])
        self.synthetic = _check_synthetic(synthetic)
        self.frame_gap = (int(frame_gap[0]), int(frame_gap[1]))
        self.pairs_per_clip = int(pairs_per_clip)
        kwargs.setdefault('ann_file', '')
        super().__init__(data_root=data_root, **kwargs)

    def load_data_list(self) -> list[dict]:
        """Lists the readable clips (probing every video once) and repeats each per pair."""
        clips = self._file_clips() + self._synthetic_clips()
        if not clips:
            patterns = [self._pattern(p) for p in self.video_glob]
            raise ValueError(
                f'SkyVideoPairDataset: no readable clip under data_root={self.data_root!r} '
                f'with video_glob={self.video_glob} (patterns {patterns})'
            )
        data_list = []
        for clip_index, clip in enumerate(clips):
            clip.update(clip_index=clip_index, frame_gap_range=self.frame_gap)
            data_list.extend(dict(clip) for _ in range(self.pairs_per_clip))
        return data_list

    def _pattern(self, video_glob: str) -> str:
        if osp.isabs(video_glob) or not self.data_root:
            return video_glob
        return osp.join(self.data_root, video_glob)

    def _file_clips(self) -> list[dict]:
        clips = []
        for video_glob in self.video_glob:
            for path in sorted(glob.glob(self._pattern(video_glob), recursive=True)):
                clip = self._folder_clip(path) if osp.isdir(path) else self._video_clip(path)
                if clip is not None:
                    clips.append(clip)
        return clips

    @staticmethod
    def _skip(path: str, reason: str) -> None:
        print_log(
            f'SkyVideoPairDataset: skipped {path}: {reason}',
            logger='current',
            level=logging.WARNING,
        )

    def _video_clip(self, path: str) -> dict | None:
        probe = probe_video(path)
        if isinstance(probe, str):
            self._skip(path, probe)
            return None
        num_frames, width, height = probe
        return dict(
            source='video', img_path=path, num_frames=num_frames, width=width, height=height
        )

    def _folder_clip(self, folder: str) -> dict | None:
        frame_paths = list_frame_files(folder)
        if len(frame_paths) < 2:
            self._skip(folder, f'has {len(frame_paths)} images {IMAGE_EXTENSIONS} (a pair needs 2)')
            return None
        first = cv2.imread(frame_paths[0], cv2.IMREAD_COLOR)
        if first is None:
            self._skip(folder, f'cannot read its first frame {frame_paths[0]}')
            return None
        return dict(
            source='frames',
            img_path=folder,
            num_frames=len(frame_paths),
            width=first.shape[1],
            height=first.shape[0],
            frame_paths=frame_paths,
        )

    def _synthetic_clips(self) -> list[dict]:
        if self.synthetic is None:
            return []
        cfg = self.synthetic
        width, height = cfg['img_size']
        num_frames = cfg['num_frames']
        scene_cfg = {**SYNTHETIC_SCENE_DEFAULTS, 'num_frames': num_frames, **cfg['scene_cfg']}
        sampler = SkySceneSampler(width, height, **scene_cfg)
        clips = []
        for index in range(cfg['num_clips']):
            scene = _cover_pan(sampler.sample(cfg['seed'], index), num_frames)
            clips.append(
                dict(
                    source='synthetic',
                    img_path=f'synthetic_sky_clip_seed{cfg["seed"]}_{index:06d}',
                    num_frames=num_frames,
                    width=width,
                    height=height,
                    scene=scene,
                )
            )
        return clips


def _check_synthetic(synthetic: dict | None) -> dict | None:
    """Fills in the defaults of the ``synthetic`` argument and validates it."""
    if synthetic is None:
        return None
    known = {'num_clips', 'img_size', 'seed', 'num_frames', 'scene_cfg'}
    unknown = sorted(set(synthetic) - known)
    if unknown:
        raise ValueError(f'SkyVideoPairDataset: synthetic has unknown keys {unknown} ({known})')
    cfg = {**dict(img_size=(640, 512), seed=0, num_frames=16, scene_cfg=None), **synthetic}
    cfg['scene_cfg'] = dict(cfg['scene_cfg'] or {})
    if int(cfg.get('num_clips', 0)) < 1:
        raise ValueError(
            f'SkyVideoPairDataset: synthetic.num_clips={cfg.get("num_clips")} must be >= 1'
        )
    if int(cfg['num_frames']) < 2:
        raise ValueError(
            f'SkyVideoPairDataset: synthetic.num_frames={cfg["num_frames"]} must be >= 2'
        )
    cfg['num_clips'], cfg['num_frames'], cfg['seed'] = (
        int(cfg['num_clips']),
        int(cfg['num_frames']),
        int(cfg['seed']),
    )
    cfg['img_size'] = (int(cfg['img_size'][0]), int(cfg['img_size'][1]))
    return cfg


def _cover_pan(scene: SkyScene, num_frames: int) -> SkyScene:
    """The scene with a background margin that covers its camera pan over ``num_frames``."""
    needed = int(math.ceil(max(abs(scene.pan[0]), abs(scene.pan[1])) * num_frames)) + 2
    if scene.pan != (0.0, 0.0) and scene.margin < needed:
        scene = dataclasses.replace(scene, margin=needed)
    return scene
