"""DDIMBoxSampler: steps, repeatability per image, starts at peaks and renewal from them."""

import torch
from mmengine.config import ConfigDict

from mmcofnet.models.task_modules import DDIMBoxSampler, NoiseSchedule
from mmcofnet.models.task_modules.ddim_sampler import _PeakQueue

CFG = dict(
    sampling_steps=1,
    eta=1.0,
    box_renewal=True,
    renewal_thr=0.5,
    seed=0,
    prior_proposals=0,
    prior_t=7,
)
IMG_WH = torch.tensor([[[96.0, 64.0]], [[80.0, 48.0]]])


def keep_boxes(calls):
    """A denoiser that returns the boxes it is given, all scored 0.9, and records its calls."""

    def denoise(boxes, t, x_t):
        calls.append((boxes.clone(), t.clone()))
        return torch.full((*boxes.shape[:2], 3), 2.2), boxes, None

    return denoise


def test_steps_go_down_from_t_and_return_every_step():
    sampler, calls = DDIMBoxSampler(NoiseSchedule(1000), 2.0), []
    steps = sampler(keep_boxes(calls), IMG_WH, 5, ConfigDict(CFG, sampling_steps=4))
    assert len(steps) == 4 and [t[0].item() for _, t in calls] == [999, 749, 499, 249]
    assert steps[0][1].shape == (2, 5, 4)


def test_noise_is_per_image_repeatable_and_independent_of_the_batch():
    sampler = DDIMBoxSampler(NoiseSchedule(1000), 2.0)
    cfg = ConfigDict(CFG, sampling_steps=2)
    both = sampler(keep_boxes([]), IMG_WH, 5, cfg)
    alone = sampler(keep_boxes([]), IMG_WH[1:], 5, cfg)
    torch.testing.assert_close(both[-1][1][1:], alone[-1][1])
    other = sampler(keep_boxes([]), IMG_WH, 5, ConfigDict(cfg, seed=1))
    assert not torch.allclose(other[-1][1], both[-1][1])


def test_starts_at_the_peaks_from_prior_t():
    sampler, calls = DDIMBoxSampler(NoiseSchedule(1000), 2.0), []
    peak = torch.tensor([[[20.0, 12.0, 36.0, 28.0]]]).expand(2, 1, 4)
    cfg = ConfigDict(CFG, prior_proposals=1, prior_t=7)
    sampler(keep_boxes(calls), IMG_WH, 5, cfg, peaks=lambda k: (peak[:, :k], torch.ones(2, 1)))
    boxes, t = calls[0]
    assert t.tolist() == [7, 7]
    torch.testing.assert_close(boxes[:, 0], peak[:, 0], atol=1e-4, rtol=0)


def test_peak_queue_hands_out_peaks_in_order_then_falls_back():
    peaks = torch.arange(1, 4, dtype=torch.float32)[None, :, None].expand(1, 3, 4)  # 1, 2, 3
    queue = _PeakQueue(peaks, num_peaks=torch.tensor([2]))  # the third is no true peak
    fallback = torch.zeros(1, 4, 4)
    first = queue.take(torch.tensor([[False, True, False, False]]), fallback)
    assert first[0, :, 0].tolist() == [0, 1, 0, 0]
    second = queue.take(torch.tensor([[True, False, True, True]]), fallback)
    assert second[0, :, 0].tolist() == [2, 0, 0, 0]  # peak 2, then none left: the fallback
