"""MotionSegmentationLoss and TemporalConsistencyLoss on hand-made maps and masks."""

import math

import pytest
import torch
from conftest import objectness_logits

from mmcofnet.models.layers.objectness_map import ObjectnessMap
from mmcofnet.models.losses import MotionSegmentationLoss, TemporalConsistencyLoss
from mmcofnet.models.losses.motion_segmentation_loss import reduce_to_grid
from mmcofnet.models.losses.temporal_consistency_loss import sample_flow

LOG2 = math.log(2)
STRIDE = 8


# -- motion segmentation ---------------------------------------------------------------------


def one_pixel_mask(y=5, x=9, size=16):
    mask = torch.zeros(1, 1, size, size)
    mask[0, 0, y, x] = 1
    return mask


def test_mask_reduces_to_cells_by_any_pixel():
    grid = reduce_to_grid(one_pixel_mask(), (4, 4), 4)
    expected = torch.zeros(1, 1, 4, 4)
    expected[0, 0, 1, 2] = 1  # pixel (5, 9) lies in cell (1, 2)
    assert torch.equal(grid, expected)
    # A mask smaller than the grid is padded with negatives, a larger one cropped.
    assert reduce_to_grid(torch.ones(1, 1, 6, 6), (2, 2), 4).tolist() == [[[[1, 1], [1, 1]]]]
    assert reduce_to_grid(torch.ones(1, 1, 3, 3), (2, 2), 2).tolist() == [[[[1, 1], [1, 1]]]]
    assert reduce_to_grid(torch.ones(1, 1, 2, 2), (2, 2), 2).tolist() == [[[[1, 0], [0, 0]]]]


def test_all_negative_mask_is_plain_bce():
    loss = MotionSegmentationLoss()
    assert loss(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 16, 16), 4).item() == pytest.approx(LOG2)
    logits = torch.full((1, 1, 4, 4), -2.0)
    expected = math.log1p(math.exp(-2.0))
    assert loss(logits, torch.zeros(1, 1, 16, 16), 4).item() == pytest.approx(expected)


def test_one_positive_cell_weighs_as_all_negatives():
    # 1 positive cell, 15 negatives: the automatic pos_weight is 15.
    logits = torch.zeros(1, 1, 4, 4, requires_grad=True)
    loss = MotionSegmentationLoss()(logits, one_pixel_mask(), 4)
    assert loss.item() == pytest.approx((15 * LOG2 + 15 * LOG2) / 16)
    loss.backward()
    grad = logits.grad[0, 0]
    assert grad[1, 2] < 0 and (grad.flatten().sort().values[1:] > 0).all()
    # The positive cell pulls as hard as all the negatives together.
    assert grad.sum().item() == pytest.approx(0.0, abs=1e-7)


def test_pos_weight_given_clamped_and_loss_weight():
    logits, mask = torch.zeros(1, 1, 4, 4), one_pixel_mask()
    given = MotionSegmentationLoss(pos_weight=3.0)(logits, mask, 4)
    assert given.item() == pytest.approx((3 * LOG2 + 15 * LOG2) / 16)
    clamped = MotionSegmentationLoss(max_pos_weight=5.0)(logits, mask, 4)
    assert clamped.item() == pytest.approx((5 * LOG2 + 15 * LOG2) / 16)
    weighted = MotionSegmentationLoss(pos_weight=3.0, loss_weight=2.0)(logits, mask, 4)
    assert weighted.item() == pytest.approx(2 * given.item())
    # More positives than negatives: the weight stays at 1 (positives never weigh less).
    mostly = torch.ones(1, 1, 16, 16)
    mostly[..., :4, :4] = 0
    assert MotionSegmentationLoss()(logits, mostly, 4).item() == pytest.approx(LOG2)
    with pytest.raises(ValueError, match='pos_weight'):
        MotionSegmentationLoss(pos_weight=0.0)


def test_padding_cells_are_left_out():
    logits = torch.zeros(1, 1, 4, 4)
    logits[..., 2:] = -10.0  # cells over the padding: would add almost nothing, but count
    valid = torch.zeros(1, 1, 16, 16)
    valid[..., :, :8] = 1  # left half of the image
    loss = MotionSegmentationLoss()(logits, one_pixel_mask(x=2), 4, valid)
    # 8 valid cells, 1 positive: pos_weight 7, mean over the 8 valid cells.
    assert loss.item() == pytest.approx((7 * LOG2 + 7 * LOG2) / 8)


# -- temporal consistency --------------------------------------------------------------------


@pytest.fixture
def objectness():
    return ObjectnessMap(num_classes=3, in_channels=4, stride=STRIDE)


def constant_flow(dx, dy, shape=(64, 96)):
    flow = torch.zeros(1, 2, *shape)
    flow[:, 0], flow[:, 1] = dx, dy
    return flow


def maps(peaks_t, peaks_k):
    return (
        objectness_logits(peaks_t).requires_grad_(),
        objectness_logits(peaks_k).requires_grad_(),
    )


def test_flow_is_sampled_bilinearly_at_pixel_centres():
    flow = torch.zeros(1, 2, 4, 6)
    flow[0, 0] = torch.arange(6.0)  # dx = column index
    flow[0, 1] = torch.arange(4.0)[:, None] * 10  # dy = 10 x row index
    points = torch.tensor([[[2.5, 1.5], [3.0, 2.25], [0.0, 0.0]]])
    expected = torch.tensor([[[2.0, 10.0], [2.5, 17.5], [0.0, 0.0]]])  # border clamps
    assert torch.allclose(sample_flow(flow, points), expected)


def test_peak_moved_exactly_by_the_flow_costs_nothing(objectness):
    # Frame t: a 1-stride box centred in cell (y=2, x=3); the flow moves it 2 cells right and 1
    # down, onto frame t + k's peak.
    logits_t, logits_k = maps({(2, 3): (2.0,)}, {(3, 5): (2.0,)})
    loss = TemporalConsistencyLoss(num_peaks=1)(
        logits_t, logits_k, constant_flow(16, 8), objectness
    )
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    # Without the flow the boxes are 2.2 strides apart and no longer agree.
    unmoved = TemporalConsistencyLoss(num_peaks=1)(
        logits_t, logits_k, constant_flow(0, 0), objectness
    )
    assert unmoved.item() > 0


def test_known_offset_gives_the_expected_l1(objectness):
    # Frame t + k's centre is 0.25 strides right of the moved centre, and its box twice as wide:
    # x1 differs by 0.25 - 0.5, x2 by 0.25 + 0.5 -> L1 1 stride; heat sigmoid(2) vs sigmoid(1).
    logits_t, logits_k = maps({(2, 3): (2.0,)}, {(3, 5): (1.0, math.log(2), 0.0, 0.75, 0.5)})
    loss = TemporalConsistencyLoss(num_peaks=1, loss_weight=2.0)(
        logits_t, logits_k, constant_flow(16, 8), objectness
    )
    heat_t, heat_k = torch.sigmoid(torch.tensor(2.0)), torch.sigmoid(torch.tensor(1.0))
    expected = 2.0 * heat_k * (1.0 + heat_t - heat_k)  # weighted by the smaller heat
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    for logits, (y, x) in ((logits_t, (2, 3)), (logits_k, (3, 5))):
        assert logits.grad[0, 3:, y, x].abs().sum() > 0  # geometry channels
        assert logits.grad[0, 1, y, x] != 0  # the heatmap


def test_pairs_are_matched_one_to_one_and_averaged(objectness):
    # Two objects moving 2 cells right; the Hungarian matching pairs each with its own.
    peaks_t = {(2, 2): (3.0,), (2, 6): (3.0,)}
    peaks_k = {(2, 4): (3.0,), (2, 8): (3.0, 0.0, 0.0, 1.0, 0.5)}  # second: 0.5 stride right
    logits_t, logits_k = maps(peaks_t, peaks_k)
    loss = TemporalConsistencyLoss(num_peaks=2, score_thr=0.5)(
        logits_t, logits_k, constant_flow(16, 0), objectness
    )
    heat = torch.sigmoid(torch.tensor(3.0)).item()
    assert loss.item() == pytest.approx(heat * (0.0 + 1.0) / 2, rel=1e-5)  # (0 + 1 stride) / 2


def test_no_pair_is_zero_with_a_graph(objectness):
    logits_t, logits_k = maps({(2, 3): (2.0,)}, {(7, 11): (2.0,)})
    far = TemporalConsistencyLoss(num_peaks=1, max_distance=2.0)(
        logits_t, logits_k, constant_flow(0, 0), objectness
    )
    assert far.item() == 0 and far.requires_grad
    nothing = TemporalConsistencyLoss(score_thr=0.99)(
        logits_t, logits_k, constant_flow(0, 0), objectness
    )
    assert nothing.item() == 0 and nothing.requires_grad
    nothing.backward()


def test_bad_flow_is_refused(objectness):
    logits_t, logits_k = maps({(2, 3): (2.0,)}, {(3, 5): (2.0,)})
    with pytest.raises(ValueError, match='flow must be'):
        TemporalConsistencyLoss()(logits_t, logits_k, torch.zeros(1, 3, 64, 96), objectness)
