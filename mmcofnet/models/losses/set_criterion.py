"""SetCriterion: the set-prediction losses of box queries (match, then class and box losses)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmdet.models.losses import VarifocalLoss
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures.bbox import bbox_overlaps
from mmdet.utils import ConfigType, InstanceList, reduce_mean
from mmengine.structures import InstanceData
from torch import Tensor, nn

DEFAULT_ASSIGNER = dict(
    type='HungarianAssigner',
    match_costs=[
        dict(type='FocalLossCost', weight=2.0),
        dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
        dict(type='IoUCost', iou_mode='giou', weight=2.0),
    ],
)


@MODELS.register_module()
class SetCriterion(nn.Module):
    """Matches predicted boxes to the objects, then focal + L1 + GIoU (as DiffusionDet's loss).

    Each object is matched ``match_times`` times (one-to-many when above 1: NMS removes the
    duplicates at test time); unmatched boxes are background.

    Args:
        num_classes (int): K, the number of classes.
        assigner (ConfigType): The matcher (one-to-one, Hungarian by default).
        match_times (int): Matches per object.
        loss_cls (ConfigType): Class loss on one-hot targets. With mmdet's ``VarifocalLoss`` the
            classification is quality-aware (VarifocalNet): a matched box's target for its class
            is its IoU with the object instead of 1, so scores rank the better boxes first.
        loss_bbox (ConfigType): L1 loss on boxes normalised by the image size.
        loss_iou (ConfigType): IoU loss (GIoU) on boxes in pixels.
    """

    def __init__(
        self,
        num_classes: int,
        assigner: ConfigType = DEFAULT_ASSIGNER,
        match_times: int = 1,
        loss_cls: ConfigType = dict(
            type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0
        ),
        loss_bbox: ConfigType = dict(type='L1Loss', loss_weight=5.0),
        loss_iou: ConfigType = dict(type='GIoULoss', loss_weight=2.0),
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.assigner = TASK_UTILS.build(assigner)
        self.match_times = int(match_times)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_bbox = MODELS.build(loss_bbox)
        self.loss_iou = MODELS.build(loss_iou)

    def forward(
        self,
        cls_logits: Tensor,
        boxes: Tensor,
        gts: InstanceList,
        img_metas: list[dict],
        img_wh: Tensor,
    ) -> dict[str, Tensor]:
        """Losses of one set of predictions.

        Args:
            cls_logits (Tensor): ``[B, N, K]`` class logits.
            boxes (Tensor): ``[B, N, 4]`` predicted boxes (xyxy px).
            gts (InstanceList): Per image ground truth (``bboxes``, ``labels``).
            img_metas (list[dict]): Per image meta information.
            img_wh (Tensor): ``[B, 1, 2]`` image sizes (width, height).

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``loss_iou``, each averaged over the
            matched boxes of the batch.
        """
        labels = torch.full(
            cls_logits.shape[:2], self.num_classes, dtype=torch.long, device=cls_logits.device
        )
        target_boxes = torch.zeros_like(boxes)
        for i, (gt, meta) in enumerate(zip(gts, img_metas)):
            pred = InstanceData(scores=cls_logits[i].detach(), bboxes=boxes[i].detach())
            repeated = InstanceData(
                bboxes=gt.bboxes.repeat(self.match_times, 1),
                labels=gt.labels.repeat(self.match_times),
            )
            gt_inds = self.assigner.assign(pred, repeated, img_meta=meta).gt_inds
            pos = gt_inds > 0
            matched = (gt_inds[pos] - 1) % max(len(gt), 1)
            labels[i, pos] = gt.labels[matched]
            target_boxes[i, pos] = gt.bboxes[matched]
        pos = labels < self.num_classes
        num_pos = reduce_mean(pos.sum().float()).clamp(min=1).item()
        whwh = img_wh.repeat(1, 1, 2).expand_as(boxes)
        # One-hot targets keep mmdet's FocalLoss on its PyTorch path on every device (with class
        # indices on a GPU it calls mmcv's compiled op, which gives the same values).
        cls_target = F.one_hot(labels, self.num_classes + 1)[..., : self.num_classes]
        if isinstance(self.loss_cls, VarifocalLoss):  # quality-aware: the matched box's IoU
            iou = bbox_overlaps(boxes[pos].detach(), target_boxes[pos], is_aligned=True)
            cls_target = cls_target.to(cls_logits.dtype)
            cls_target[pos] *= iou[:, None]
        return dict(
            loss_cls=self.loss_cls(
                cls_logits.flatten(0, 1), cls_target.flatten(0, 1), avg_factor=num_pos
            ),
            loss_bbox=self.loss_bbox(
                boxes[pos] / whwh[pos], target_boxes[pos] / whwh[pos], avg_factor=num_pos
            ),
            loss_iou=self.loss_iou(boxes[pos], target_boxes[pos], avg_factor=num_pos),
        )
