"""Loading transforms."""

from __future__ import annotations

from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS

from ..sky_renderer import render_frame


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
        img = render_frame(results['scene'], self.frame)
        if self.to_float32:
            img = img.astype('float32')
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(to_float32={self.to_float32}, frame={self.frame})'
