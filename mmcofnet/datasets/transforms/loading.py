"""Loading transforms."""

from __future__ import annotations

import logging

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, LoadImageFromFile
from mmdet.registry import TRANSFORMS
from mmengine import fileio
from mmengine.logging import print_log

from ..sky_renderer import render_frame


def with_image(results: dict, img: np.ndarray, to_float32: bool) -> dict:
    """``results`` with ``img`` (float32 if asked) and its ``img_shape`` and ``ori_shape``."""
    results['img'] = img.astype(np.float32) if to_float32 else img
    results['img_shape'] = img.shape[:2]
    results['ori_shape'] = img.shape[:2]
    return results


@TRANSFORMS.register_module()
class LoadSyntheticSkyImage(BaseTransform):
    """Renders the image of a :class:`SyntheticSkyDataset` sample (its ``LoadImageFromFile``).

    Required keys: ``scene``. Added keys: ``img`` ([H, W, 3] uint8 BGR, or float32 with
    ``to_float32``), ``img_shape``, ``ori_shape``.

    Args:
        to_float32 (bool): Return a float32 image, as ``LoadImageFromFile`` does.
        frame (float): Frame time to render (0 for still images).
    """

    def __init__(self, to_float32: bool = False, frame: float = 0.0) -> None:
        self.to_float32 = to_float32
        self.frame = frame

    def transform(self, results: dict) -> dict:
        if 'scene' not in results:
            raise KeyError(
                "LoadSyntheticSkyImage: the sample has no 'scene'; this transform only loads "
                f'SyntheticSkyDataset samples (got keys {sorted(results)}); use LoadImageFromFile '
                'for datasets on disk'
            )
        return with_image(results, render_frame(results['scene'], self.frame), self.to_float32)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(to_float32={self.to_float32}, frame={self.frame})'


@TRANSFORMS.register_module()
class LoadCheckedImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that names unreadable images (corrupt, truncated), or skips them.

    A file that does not decode (where mmcv's loader fails an ``assert``) raises an ``OSError``
    naming it; with ``skip_corrupt=True`` (the shipped training pipelines) it is skipped with one
    warning per file, and mmengine's dataset draws another sample (``BaseDataset`` refetches when
    a transform returns None; in ``test_mode`` it raises). A missing file is an error either way.

    Args:
        skip_corrupt (bool): Skip unreadable and truncated images with a warning.
        **kwargs: Arguments of mmcv's ``LoadImageFromFile`` but ``ignore_empty`` (it would skip
            missing files silently) and the deprecated ``file_client_args`` (``backend_args``).
    """

    def __init__(self, skip_corrupt: bool = False, **kwargs) -> None:
        for key in ('ignore_empty', 'file_client_args'):
            if kwargs.pop(key, None):
                raise ValueError(
                    f'LoadCheckedImageFromFile does not take {key} (ignore_empty would skip '
                    'missing files silently: skip_corrupt=True skips unreadable images with a '
                    'warning; file_client_args: use backend_args)'
                )
        super().__init__(**kwargs)
        self.skip_corrupt = skip_corrupt
        self._skipped: set[str] = set()

    def transform(self, results: dict) -> dict | None:
        path = results['img_path']
        img_bytes = fileio.get(path, backend_args=self.backend_args)
        problem = 'not a readable image (corrupt or truncated)'
        try:
            img = mmcv.imfrombytes(img_bytes, flag=self.color_type, backend=self.imdecode_backend)
        except Exception as error:  # pillow and turbojpeg raise where OpenCV returns None
            img, problem = None, f'{problem}: {error}'
        if img is None:
            if not self.skip_corrupt:
                raise OSError(f'{path}: {problem}')
            if path not in self._skipped:
                self._skipped.add(path)
                print_log(f'skipped {path}: {problem}', logger='current', level=logging.WARNING)
            return None
        return with_image(results, img, self.to_float32)

    def __repr__(self) -> str:
        return f'{super().__repr__()[:-1]}, skip_corrupt={self.skip_corrupt})'
