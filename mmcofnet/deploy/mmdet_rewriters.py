"""Fixes to mmdeploy's rewriters of mmdet's heads, so that exported baselines match PyTorch.

mmdeploy 1.3.1 exports RTMDet's boxes unclipped; mmdet clips every box to the image before NMS
(``DistancePointBBoxCoder.decode`` with ``max_shape``), so NMS saw other boxes and the two kept
different detections wherever a box crossed the frame's edge.
"""

from __future__ import annotations

import torch
from mmdeploy.codebase.mmdet import get_post_processing_params
from mmdeploy.codebase.mmdet.models.dense_heads import rtmdet_head
from mmdeploy.core import FUNCTION_REWRITER
from mmdeploy.mmcv.ops import multiclass_nms
from torch import Tensor

from mmcofnet.utils import size_tensor


@FUNCTION_REWRITER.register_rewriter(
    'mmdet.models.dense_heads.rtmdet_head.RTMDetHead.predict_by_feat', backend='onnxruntime'
)
def rtmdet_head__predict_by_feat__clipped(
    self,
    cls_scores: list[Tensor],
    bbox_preds: list[Tensor],
    batch_img_metas: list[dict] | None = None,
    cfg=None,
    rescale: bool = False,
    with_nms: bool = True,
):
    """mmdeploy's RTMDet post-processing with the boxes clipped to the image first, as mmdet."""
    boxes, scores = rtmdet_head.rtmdet_head__predict_by_feat(
        self, cls_scores, bbox_preds, batch_img_metas, cfg, rescale, with_nms=False
    )
    height, width = batch_img_metas[0]['img_shape'][:2]
    frame = size_tensor([width, height, width, height]).to(boxes)
    boxes = torch.min(boxes.clamp(min=0), frame)
    if not with_nms:
        return boxes, scores
    cfg = self.test_cfg if cfg is None else cfg
    post_params = get_post_processing_params(FUNCTION_REWRITER.get_context().cfg)
    return multiclass_nms(
        boxes,
        scores,
        post_params.max_output_boxes_per_class,
        nms_type=cfg.nms.get('type'),
        iou_threshold=cfg.nms.get('iou_threshold', post_params.iou_threshold),
        score_threshold=cfg.get('score_thr', post_params.score_threshold),
        pre_top_k=post_params.pre_top_k,
        keep_top_k=cfg.get('max_per_img', post_params.keep_top_k),
    )
