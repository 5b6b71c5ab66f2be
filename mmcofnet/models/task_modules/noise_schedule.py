"""DDPM noise schedules, forward diffusion ``q_sample`` and DDIM steps (for box diffusion)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def cosine_betas(num_timesteps: int, s: float = 0.008) -> Tensor:
    """Betas of the cosine schedule (Nichol & Dhariwal, 2021), float64 ``[T]``.

    alpha_bar(t) = f(t) / f(0) with f(t) = cos(((t / T) + s) / (1 + s) * pi / 2) ** 2.
    """
    t = torch.linspace(0, num_timesteps, num_timesteps + 1, dtype=torch.float64)
    f = torch.cos(((t / num_timesteps) + s) / (1 + s) * math.pi / 2) ** 2
    alphas_cumprod = f / f[0]
    return (1 - alphas_cumprod[1:] / alphas_cumprod[:-1]).clamp(0, 0.999)


def linear_betas(num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """Betas of DDPM's linear schedule (Ho et al., 2020), float64 ``[T]``."""
    return torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)


class NoiseSchedule(nn.Module):
    """A DDPM noise schedule with the closed forms that training and DDIM sampling need.

    Forward diffusion: ``x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps``.

    Args:
        num_timesteps (int): T, the number of diffusion steps.
        schedule (str): ``'cosine'`` or ``'linear'``.
        beta_start, beta_end (float): Range of the linear schedule.
    """

    def __init__(
        self,
        num_timesteps: int = 1000,
        schedule: str = 'cosine',
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
    ) -> None:
        super().__init__()
        if schedule == 'cosine':
            betas = cosine_betas(num_timesteps)
        elif schedule == 'linear':
            betas = linear_betas(num_timesteps, beta_start, beta_end)
        else:
            raise ValueError(f"NoiseSchedule: schedule='{schedule}' is not 'cosine' or 'linear'")
        self.num_timesteps = num_timesteps
        self.schedule = schedule
        alphas_cumprod = torch.cumprod(1 - betas, dim=0)
        self.register_buffer('betas', betas.float(), persistent=False)
        self.register_buffer('alphas_cumprod', alphas_cumprod.float(), persistent=False)

    def alpha_bar(self, t: Tensor, ndim: int) -> Tensor:
        """alpha_bar at integer steps ``t`` (``[B]``), shaped ``[B, 1, ...]`` with ``ndim`` dims."""
        return self.alphas_cumprod[t.long()].view(-1, *([1] * (ndim - 1)))

    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """Forward diffusion: ``x_0 [B, ...]``, steps ``t [B]`` and noise -> ``x_t [B, ...]``."""
        ab = self.alpha_bar(t, x0.dim())
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def x0_from_noise(self, x_t: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """Inverts :meth:`q_sample` for ``x_0`` given the noise."""
        ab = self.alpha_bar(t, x_t.dim())
        return (x_t - (1 - ab).sqrt() * noise) / ab.sqrt()

    def noise_from_x0(self, x_t: Tensor, t: Tensor, x0: Tensor) -> Tensor:
        """Inverts :meth:`q_sample` for the noise given ``x_0``."""
        ab = self.alpha_bar(t, x_t.dim())
        return (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()

    def ddim_timesteps(self, steps: int, t_start: int | None = None) -> list[tuple[int, int]]:
        """``steps`` (t, t_next) pairs from ``t_start`` (default T - 1) down to -1.

        -1 marks the last step, which returns x_0.
        """
        t_start = self.num_timesteps - 1 if t_start is None else t_start
        if not 0 <= t_start < self.num_timesteps:
            raise ValueError(f't_start={t_start} must be in [0, {self.num_timesteps})')
        if not 1 <= steps <= t_start + 1:
            raise ValueError(f'sampling_steps={steps} must be in [1, {t_start + 1}]')
        times = torch.linspace(-1, t_start, steps + 1).long().tolist()[::-1]
        return list(zip(times[:-1], times[1:]))

    def ddim_step(
        self,
        x0: Tensor,
        noise: Tensor,
        t: int,
        t_next: int,
        eta: float = 0.0,
        fresh_noise: Tensor | None = None,
    ) -> Tensor:
        """One DDIM update (Song et al., 2021) from step ``t`` to ``t_next`` (-1 returns ``x0``).

        Args:
            x0 (Tensor): Predicted ``x_0``, ``[B, ...]``.
            noise (Tensor): Predicted noise at step ``t``, ``[B, ...]`` (same shape as ``x0``).
            t, t_next (int): Current and next step.
            eta (float): 0 is deterministic DDIM, 1 the DDPM-like stochastic update.
            fresh_noise (Tensor, optional): Standard normal noise for ``eta > 0``, ``[B, ...]``
                (same shape as ``x0``).

        Returns:
            Tensor: ``x_{t_next}``, ``[B, ...]``.
        """
        if t_next < 0:
            return x0
        ab = float(self.alphas_cumprod[t])
        ab_next = float(self.alphas_cumprod[t_next])
        sigma = eta * math.sqrt((1 - ab / ab_next) * (1 - ab_next) / (1 - ab))
        x_next = math.sqrt(ab_next) * x0 + math.sqrt(max(1 - ab_next - sigma**2, 0.0)) * noise
        if sigma > 0:
            if fresh_noise is None:
                raise ValueError('ddim_step: eta > 0 needs fresh_noise')
            x_next = x_next + sigma * fresh_noise
        return x_next
