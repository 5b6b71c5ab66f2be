"""SkyInferencer: mmdet's DetInferencer for every config of this package."""

from __future__ import annotations

import copy

from mmdet.apis import DetInferencer
from mmengine.config import ConfigDict
from mmengine.dataset import Compose

# Test-pipeline loaders that make their images instead of reading them (the embedded synthetic
# sky): for inference on files or arrays they become mmdet's image loader.
RENDERING_LOADERS = ('LoadSyntheticSkyImage', 'mmcofnet.LoadSyntheticSkyImage')


class SkyInferencer(DetInferencer):
    """mmdet's :class:`DetInferencer` for any mmcofnet config and checkpoint.

    It works as mmdet's does (images as paths, folders or arrays; ``return_datasamples``,
    ``out_dir``, ``pred_score_thr``), and also with the configs whose test data is rendered in
    memory (the synthetic sky), whose pipeline starts with ``LoadSyntheticSkyImage`` instead of
    ``LoadImageFromFile``.

    Examples:
        >>> from mmcofnet.apis import SkyInferencer
        >>> inferencer = SkyInferencer('configs/cofnet/cofnet_nano_halmstad.py', 'ckpt.pth',
        ...                            device='cpu')
        >>> result = inferencer('frame.jpg', pred_score_thr=0.3)
        >>> result['predictions'][0]['bboxes']  # xyxy in the image's pixels
    """

    def _init_pipeline(self, cfg: ConfigDict) -> Compose:
        cfg = copy.deepcopy(cfg)
        pipeline = cfg.test_dataloader.dataset.pipeline
        for transform in pipeline:
            if transform['type'] in RENDERING_LOADERS:
                transform.clear()
                transform.update(type='LoadImageFromFile')
        return super()._init_pipeline(cfg)
