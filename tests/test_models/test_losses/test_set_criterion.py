"""SetCriterion: matching (one-to-one and one-to-many), class targets, box losses."""

import math

import pytest
import torch
from mmengine.structures import InstanceData

from mmcofnet.models.losses import SetCriterion

IMG_WH = torch.tensor([[[96.0, 64.0]]])
METAS = [dict(img_shape=(64, 96))]


class _RecordTargets(torch.nn.Module):
    """Wraps a loss and keeps the targets it was called with."""

    def __init__(self, loss):
        super().__init__()
        self.loss = loss

    def forward(self, logits, targets, **kwargs):
        self.targets = targets
        return self.loss(logits, targets, **kwargs)


def test_match_times_assigns_each_ground_truth_several_boxes():
    criterion = SetCriterion(num_classes=3, match_times=3)
    criterion.loss_cls = _RecordTargets(criterion.loss_cls)
    boxes = torch.tensor([[0, 0, 10, 10]], dtype=torch.float32).repeat(1, 12, 1)
    gts = [
        InstanceData(
            bboxes=torch.tensor([[10.0, 10, 20, 18], [30, 5, 40, 30]]), labels=torch.tensor([1, 2])
        )
    ]
    criterion(torch.zeros(1, 12, 3), boxes, gts, METAS, IMG_WH)
    onehot = criterion.loss_cls.targets  # [12, 3]; background rows are all zero
    assert onehot.sum(0).tolist() == [0, 3, 3] and (onehot.sum(1) == 0).sum() == 6


@pytest.mark.parametrize('num_boxes', [1, 2])
def test_default_focal_loss_value_at_zero_logits(num_boxes):
    # Sigmoid focal loss, alpha 0.25, gamma 2, weight 2; logits 0 give p = 0.5 everywhere: a
    # positive costs alpha (1 - p)^2 ln 2 = ln2 / 16, a negative (1 - alpha) p^2 ln 2 = 3 ln2 / 16.
    # The matched box (class 1 of 3) has 1 positive and 2 negatives; a background box 3 negatives.
    criterion = SetCriterion(num_classes=3)
    gts = [InstanceData(bboxes=torch.tensor([[10.0, 10, 20, 18]]), labels=torch.tensor([1]))]
    boxes = gts[0].bboxes.repeat(1, num_boxes, 1)
    losses = criterion(torch.zeros(1, num_boxes, 3), boxes, gts, METAS, IMG_WH)
    ln2 = math.log(2)
    matched = ln2 / 16 + 2 * 3 * ln2 / 16
    background = 3 * 3 * ln2 / 16
    expected = 2.0 * (matched + (num_boxes - 1) * background) / 1  # avg_factor: 1 matched box
    torch.testing.assert_close(losses['loss_cls'], torch.tensor(expected))


def test_box_losses_are_zero_on_exact_boxes_and_grow_with_the_error():
    criterion = SetCriterion(num_classes=3)
    gts = [InstanceData(bboxes=torch.tensor([[10.0, 10, 20, 18]]), labels=torch.tensor([1]))]
    exact = criterion(torch.zeros(1, 4, 3), gts[0].bboxes.repeat(1, 4, 1), gts, METAS, IMG_WH)
    assert exact['loss_bbox'] == 0 and exact['loss_iou'].abs() < 1e-6
    shifted = gts[0].bboxes.repeat(1, 4, 1) + torch.tensor([4.8, 0, 4.8, 0])
    moved = criterion(torch.zeros(1, 4, 3), shifted, gts, METAS, IMG_WH)
    # One matched box 4.8 px (0.05 of the width) off in x1 and x2: L1 summed over the coordinates
    # and averaged over the matched boxes, times the weight 5.
    torch.testing.assert_close(moved['loss_bbox'], torch.tensor(5 * 2 * 0.05))
    assert moved['loss_iou'] > 0


def test_varifocal_class_targets_are_the_matched_boxes_iou():
    criterion = SetCriterion(
        num_classes=3, loss_cls=dict(type='VarifocalLoss', use_sigmoid=True, loss_weight=2.0)
    )
    seen = {}
    criterion.loss_cls.register_forward_hook(lambda module, args, out: seen.update(target=args[1]))
    # Every box is the object shifted 2 px to the right: IoU 64 / 96 with it.
    boxes = torch.tensor([[12.0, 10, 22, 18]]).repeat(1, 12, 1)
    gts = [InstanceData(bboxes=torch.tensor([[10.0, 10, 20, 18]]), labels=torch.tensor([1]))]
    losses = criterion(torch.zeros(1, 12, 3), boxes, gts, METAS, IMG_WH)
    target = seen['target']  # [12, 3]: one matched box, its IoU at its class
    assert target.dtype == torch.float32 and (target > 0).sum() == 1
    torch.testing.assert_close(target.sum(0), torch.tensor([0.0, 64 / 96, 0.0]))
    assert torch.isfinite(losses['loss_cls']) and losses['loss_cls'] > 0
