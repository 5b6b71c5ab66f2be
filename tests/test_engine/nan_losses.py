"""Imported by the training runs of test_non_finite.py (``custom_imports``).

``MMCOFNET_NAN_FROM`` (an iteration, counted from 1) and ``MMCOFNET_NAN_TO`` (inclusive, or
none): in those iterations COFNet's head returns its losses times NaN, as a diverging batch would.
"""

import os

from mmengine.logging import MessageHub

from mmcofnet.models.dense_heads import DiffusionBoxHead

_loss_by_feat = DiffusionBoxHead.loss_by_feat


def _nan_loss_by_feat(self, *args, **kwargs):
    losses = _loss_by_feat(self, *args, **kwargs)
    iteration = MessageHub.get_current_instance().get_info('iter') + 1
    first = int(os.environ['MMCOFNET_NAN_FROM'])
    last = int(os.environ.get('MMCOFNET_NAN_TO', 10**9))
    if first <= iteration <= last:
        losses['loss_bbox'] = losses['loss_bbox'] * float('nan')
    return losses


DiffusionBoxHead.loss_by_feat = _nan_loss_by_feat
