"""SkyInferencer: mmdet's DetInferencer for every config of this package."""

from __future__ import annotations

import copy

from mmdet.apis import DetInferencer
from mmengine.config import ConfigDict
from mmengine.dataset import Compose

# Test-pipeline loaders of this package, which mmdet's DetInferencer does not know: the synthetic
# sky's (it renders its images instead of reading them) and the checked file loader. For inference
# on files or arrays they become mmdet's image loader, which DetInferencer replaces with its own.
PACKAGE_LOADERS = ('LoadSyntheticSkyImage', 'LoadCheckedImageFromFile')


class SkyInferencer(DetInferencer):
    """mmdet's :class:`DetInferencer` for any mmcofnet config and checkpoint.

    It works as mmdet's does (images as paths, folders or arrays; ``return_datasamples``,
    ``out_dir``, ``pred_score_thr``), and also with the configs whose test data is rendered in
    memory (the synthetic sky), whose pipeline starts with ``LoadSyntheticSkyImage``, and with
    those that load with ``LoadCheckedImageFromFile``.

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
            if str(transform['type']).split('.')[-1] in PACKAGE_LOADERS:
                transform.clear()
                transform.update(type='LoadImageFromFile')
        return super()._init_pipeline(cfg)
