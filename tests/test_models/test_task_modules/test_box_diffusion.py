"""Noise schedules, q_sample and DDIM against their closed forms; the box encoding."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcofnet.models.task_modules import (
    NoiseSchedule,
    decode_boxes,
    encode_boxes,
    random_boxes,
    timestep_embedding,
)


def test_cosine_schedule_matches_its_closed_form():
    schedule = NoiseSchedule(1000, 'cosine')
    s = 0.008

    def f(t):
        return math.cos((t / 1000 + s) / (1 + s) * math.pi / 2) ** 2

    for t in (0, 1, 100, 500, 900, 980):  # the last steps are clipped at beta = 0.999
        expected = f(t + 1) / f(0)
        assert schedule.alphas_cumprod[t].item() == pytest.approx(expected, rel=1e-5)
    assert torch.all(schedule.alphas_cumprod[1:] < schedule.alphas_cumprod[:-1])


def test_linear_schedule_is_ddpm():
    schedule = NoiseSchedule(1000, 'linear')
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    expected = torch.cumprod(1 - betas, 0)
    torch.testing.assert_close(schedule.alphas_cumprod, expected.float())
    assert schedule.betas[0].item() == pytest.approx(1e-4)


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="schedule='quadratic'"):
        NoiseSchedule(schedule='quadratic')


def test_q_sample_and_its_inverses():
    schedule = NoiseSchedule()
    x0, noise = torch.randn(3, 5, 4), torch.randn(3, 5, 4)
    t = torch.tensor([0, 400, 999])
    x_t = schedule.q_sample(x0, t, noise)
    ab = schedule.alphas_cumprod[t].view(3, 1, 1)
    torch.testing.assert_close(x_t, ab.sqrt() * x0 + (1 - ab).sqrt() * noise)
    torch.testing.assert_close(schedule.noise_from_x0(x_t, t, x0), noise, atol=1e-4, rtol=1e-4)
    t_mid = torch.tensor([10, 400, 700])
    x_mid = schedule.q_sample(x0, t_mid, noise)
    torch.testing.assert_close(
        schedule.x0_from_noise(x_mid, t_mid, noise), x0, atol=1e-4, rtol=1e-4
    )


def test_q_sample_statistics_at_the_last_step_are_pure_noise():
    schedule = NoiseSchedule()
    x0 = torch.full((20000, 4), 2.0)
    x_t = schedule.q_sample(x0, torch.full((20000,), 999), torch.randn(20000, 4))
    assert abs(x_t.mean().item()) < 0.02 and abs(x_t.std().item() - 1) < 0.02


def test_ddim_timesteps():
    schedule = NoiseSchedule()
    assert schedule.ddim_timesteps(1) == [(999, -1)]
    pairs = schedule.ddim_timesteps(4)
    assert [t for t, _ in pairs] == [999, 749, 499, 249] and pairs[-1][1] == -1
    for steps in range(1, 9):
        pairs = schedule.ddim_timesteps(steps)
        assert len(pairs) == steps and all(a > b for a, b in pairs)
    with pytest.raises(ValueError, match='sampling_steps=0'):
        schedule.ddim_timesteps(0)
    # Starting part-way (from a partly noised guess).
    assert schedule.ddim_timesteps(2, t_start=50) == [(50, 24), (24, -1)]
    with pytest.raises(ValueError, match='t_start=1000'):
        schedule.ddim_timesteps(1, t_start=1000)


def test_deterministic_ddim_step_with_exact_predictions_stays_on_the_trajectory():
    # With the true x0 and noise, an eta = 0 step from x_t lands on q_sample(x0, t_next, noise).
    schedule = NoiseSchedule()
    x0, noise = torch.randn(2, 6, 4), torch.randn(2, 6, 4)
    x_next = schedule.ddim_step(x0, noise, 999, 499, eta=0.0)
    torch.testing.assert_close(x_next, schedule.q_sample(x0, torch.tensor([499, 499]), noise))
    assert schedule.ddim_step(x0, noise, 249, -1) is x0


def test_stochastic_ddim_step_needs_and_uses_fresh_noise():
    schedule = NoiseSchedule()
    x0, noise = torch.zeros(1, 3, 4), torch.zeros(1, 3, 4)
    with pytest.raises(ValueError, match='fresh_noise'):
        schedule.ddim_step(x0, noise, 999, 499, eta=1.0)
    fresh = torch.ones(1, 3, 4)
    ab, ab_next = schedule.alphas_cumprod[999].item(), schedule.alphas_cumprod[499].item()
    sigma = math.sqrt((1 - ab / ab_next) * (1 - ab_next) / (1 - ab))
    out = schedule.ddim_step(x0, noise, 999, 499, eta=1.0, fresh_noise=fresh)
    torch.testing.assert_close(out, torch.full_like(out, sigma))


@settings(max_examples=50, deadline=None)
@given(
    x1=st.floats(0, 500),
    y1=st.floats(0, 300),
    w=st.floats(0.5, 140),
    h=st.floats(0.5, 100),
    scale=st.sampled_from([1.0, 2.0, 3.0]),
)
def test_box_encoding_round_trip(x1, y1, w, h, scale):
    img_wh = torch.tensor([640.0, 400.0])
    boxes = torch.tensor([[x1, y1, min(x1 + w, 640.0), min(y1 + h, 400.0)]])
    signal = encode_boxes(boxes, img_wh, scale)
    assert signal.abs().max() <= scale + 1e-5
    torch.testing.assert_close(decode_boxes(signal, img_wh, scale), boxes, atol=1e-3, rtol=0)


def test_box_encoding_values_and_clamping():
    img_wh = torch.tensor([[[100.0, 50.0]]])
    boxes = torch.tensor([[[0.0, 0.0, 100.0, 50.0], [40.0, 20.0, 60.0, 30.0]]])
    signal = encode_boxes(boxes, img_wh, 2.0)
    torch.testing.assert_close(
        signal, torch.tensor([[[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, -1.2, -1.2]]])
    )
    far = decode_boxes(torch.tensor([[[9.0, -9.0, 9.0, 9.0]]]), img_wh, 2.0)
    torch.testing.assert_close(far, torch.tensor([[[50.0, -25.0, 150.0, 25.0]]]))


def test_timestep_embedding():
    emb = timestep_embedding(torch.tensor([0, 10, 999]), 64)
    assert emb.shape == (3, 64)
    torch.testing.assert_close(emb[0], torch.cat([torch.zeros(32), torch.ones(32)]))
    assert emb[1, 0].item() == pytest.approx(math.sin(10.0), abs=1e-5)


def test_random_boxes_are_valid_normalised_boxes():
    boxes = random_boxes(500, torch.Generator().manual_seed(0))
    assert boxes.shape == (500, 4) and boxes.min() >= 0 and boxes.max() <= 1
    assert (boxes[:, 2:] > 0).all()
    assert abs(boxes[:, :2].mean().item() - 0.5) < 0.05
