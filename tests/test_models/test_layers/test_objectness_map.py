"""ObjectnessMap: CenterNet targets, peaks, scores at boxes, and old checkpoints' keys."""

import math

import pytest
import torch
from conftest import objectness_logits
from mmengine.structures import InstanceData

from mmcofnet.models.layers import ObjectnessMap


def make_map():
    module = ObjectnessMap(num_classes=3, in_channels=16, stride=8)
    module.init_weights()
    return module


class _Record(torch.nn.Module):
    def forward(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        return args[0].sum() * 0


def test_losses_target_object_centres_sizes_and_offsets():
    module = make_map()
    module.loss_heatmap, module.loss_size, module.loss_offset = _Record(), _Record(), _Record()
    gts = [
        InstanceData(bboxes=torch.tensor([[42.0, 18.0, 58.0, 34.0]]), labels=torch.tensor([2])),
        InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long)),
    ]
    module.loss(module(torch.randn(2, 16, 8, 12)), gts)  # stride 8: 96 x 64 px
    pred, target = module.loss_heatmap.args
    assert target.shape == (2, 3, 8, 12) and module.loss_heatmap.kwargs['avg_factor'] == 1
    # The centre (50, 26) px is cell (x 6, y 3) at stride 8, in the heatmap of class 2 only.
    assert target[0, 2, 3, 6] == 1 and target[0, :2].sum() == 0 and target[1].sum() == 0
    assert pred.min() > 0 and pred.max() < 1  # probabilities
    sizes, size_target = module.loss_size.args
    assert sizes.shape == (1, 2)
    torch.testing.assert_close(size_target, torch.tensor([[math.log(2.0), math.log(2.0)]]))
    offsets, offset_target = module.loss_offset.args
    assert offsets.shape == (1, 2)
    torch.testing.assert_close(offset_target, torch.tensor([[0.25, 0.25]]))  # (50, 26) / 8 - (6, 3)


def test_losses_without_objects_train_the_heatmaps_to_background():
    module = make_map()
    empty = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long))
    losses = module.loss(module(torch.randn(1, 16, 8, 12)), [empty])
    assert losses['loss_objectness'] > 0
    assert losses['loss_objectness_size'] == 0 and losses['loss_objectness_offset'] == 0
    sum(losses.values()).backward()
    assert module.out.bias.grad[:3].abs().sum() > 0


def test_peaks_are_local_maxima_sized_by_the_map():
    logits = objectness_logits(
        {
            (3, 6): (4.0, math.log(2.0), 0.0),  # the strongest: centre (52, 28) px, 16 x 8 px
            (3, 7): (3.0, 0.0, 0.0),  # its neighbour: not a local maximum
            (6, 1): (2.0, 0.0, math.log(0.5)),  # centre (12, 52), 8 x 4 px
            (1, 9): (1.0, 0.0, 0.0, 0.25, 1.0),
        }
    )  # centre offset in its cell: (74, 16), 8 x 8 px
    boxes, heat = make_map().peaks(logits, 3)
    torch.testing.assert_close(
        boxes,
        torch.tensor(
            [[[44.0, 24.0, 60.0, 32.0], [8.0, 50.0, 16.0, 54.0], [70.0, 12.0, 78.0, 20.0]]]
        ),
    )
    torch.testing.assert_close(heat, torch.sigmoid(torch.tensor([[4.0, 2.0, 1.0]])))


def test_scores_at_read_the_heatmaps_at_box_centres():
    logits = objectness_logits({(3, 6): (4.0, 0.0, 0.0)})
    boxes = torch.tensor([[[44.0, 20.0, 60.0, 36.0], [0.0, 0.0, 8.0, 8.0]]])
    scores = make_map().scores_at(logits, boxes)
    assert scores.shape == (1, 2, 3)
    assert scores[0, 0, 1] == pytest.approx(torch.sigmoid(torch.tensor(4.0)).item())
    assert scores[0, 1].max() < 0.01


def test_weights_saved_as_the_head_s_old_sequential_load():
    # Before the map was its own module, the head held nn.Sequential(conv, ReLU, conv).
    old = torch.nn.Sequential(
        torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 7, 1)
    )
    module = make_map()
    module.load_state_dict(old.state_dict())  # strict: no key missing or unexpected
    x = torch.randn(1, 16, 8, 12)
    torch.testing.assert_close(module(x), old(x))
