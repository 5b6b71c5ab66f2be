"""DDIM sampling of boxes: from noise (or from guesses) to boxes in a few denoising steps."""

from __future__ import annotations

from collections.abc import Callable

import torch
from mmengine.config import ConfigDict
from torch import Tensor

from .box_encoding import decode_boxes, encode_boxes
from .noise_schedule import NoiseSchedule

# ``denoise(boxes [B, N, 4] xyxy px, t [B], x_t [B, N, 4])`` -> the last stage's class logits
# ``[B, N, K]``, denoised boxes ``[B, N, 4]`` (xyxy px) and predicted noise (or None).
Denoiser = Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor, 'Tensor | None']]
# ``peaks(k)`` -> ``[B, k, 4]`` boxes (xyxy px) and their heat ``[B, k]``, strongest first.
PeakFinder = Callable[[int], tuple[Tensor, Tensor]]


class DDIMBoxSampler:
    """DDIM over box signals (cx, cy, w, h in [-snr_scale, snr_scale]) with box renewal.

    Noise comes from one generator per image seeded by ``cfg.seed``: an image's result is
    repeatable and does not depend on the other images in its batch. Box renewal replaces the
    boxes whose best class score is at most ``cfg.renewal_thr`` by fresh noise between steps.

    With ``peaks``, the first ``cfg.prior_proposals`` boxes start at the strongest objectness
    peaks and sampling starts at step ``cfg.prior_t`` instead of T - 1 (as SDEdit starts from a
    guess instead of noise): boxes from pure noise rarely land on objects a few pixels wide. The
    guess is not noised: noise of step t moves a box by a fraction of the image, more than such
    an object's size even at small t; for the same reason renewal then restarts the boxes it
    drops at the strongest peaks not used yet, not from noise.

    Args:
        schedule (NoiseSchedule): The noise schedule the denoiser was trained with.
        snr_scale (float): Signal scale of the box encoding.
    """

    def __init__(self, schedule: NoiseSchedule, snr_scale: float) -> None:
        self.schedule = schedule
        self.snr_scale = snr_scale

    def __call__(
        self,
        denoise: Denoiser,
        img_wh: Tensor,
        num_boxes: int,
        cfg: ConfigDict,
        peaks: PeakFinder | None = None,
    ) -> list[tuple[Tensor, Tensor]]:
        """Samples ``num_boxes`` boxes per image in ``cfg.sampling_steps`` steps.

        Args:
            denoise (Denoiser): The denoiser (see ``Denoiser``).
            img_wh (Tensor): ``[B, 1, 2]`` image sizes (width, height).
            num_boxes (int): N, boxes per image.
            cfg (ConfigDict): ``sampling_steps``, ``eta``, ``box_renewal``, ``renewal_thr``,
                ``seed``, ``prior_proposals`` and ``prior_t``.
            peaks (PeakFinder, optional): Objectness peaks to start from (see ``PeakFinder``),
                or None.

        Returns:
            list: per step, class logits ``[B, N, K]`` and boxes ``[B, N, 4]`` (xyxy px).
        """
        device, scale = img_wh.device, self.snr_scale
        normal = self.noise_stream(int(cfg.seed), len(img_wh), num_boxes, device)
        use_prior = peaks is not None and cfg.prior_proposals > 0
        x_t, steps, spare = normal(), [], None
        timesteps = self.schedule.ddim_timesteps(
            int(cfg.sampling_steps), int(cfg.prior_t) if use_prior else None
        )
        if use_prior:
            # The strongest peaks start the first boxes; with renewal, the next ones (enough for
            # every box of every later step) wait for the boxes that renewal drops.
            num_prior = min(int(cfg.prior_proposals), num_boxes)
            num_spare = (len(timesteps) - 1) * num_boxes if cfg.box_renewal else 0
            boxes, heat = peaks(num_prior + num_spare)
            boxes = encode_boxes(boxes, img_wh, scale)
            num_prior = min(num_prior, boxes.shape[1])  # a map smaller than K has fewer peaks
            x_t = torch.cat([boxes[:, :num_prior], x_t[:, num_prior:]], dim=1)
            spare = _PeakQueue(boxes[:, num_prior:], (heat[:, num_prior:] > 0).sum(dim=1))
        for t, t_next in timesteps:
            tt = torch.full((len(img_wh),), t, dtype=torch.long, device=device)
            cls_logits, boxes, noise = denoise(decode_boxes(x_t, img_wh, scale), tt, x_t)
            steps.append((cls_logits, boxes))
            if t_next < 0:
                break
            x0 = encode_boxes(boxes, img_wh, scale).clamp(-scale, scale)
            if noise is None:
                noise = self.schedule.noise_from_x0(x_t, tt, x0)
            x_t = self.schedule.ddim_step(
                x0, noise, t, t_next, cfg.eta, normal() if cfg.eta > 0 else None
            )
            if cfg.box_renewal:  # low-score boxes start again: at unused peaks, or from noise
                renew = cls_logits.sigmoid().amax(dim=-1) <= cfg.renewal_thr  # [B, N]
                fresh = normal() if spare is None else spare.take(renew, normal())
                x_t = torch.where(renew[..., None], fresh, x_t)
        return steps

    def noise_stream(
        self, seed: int, batch_size: int, num_boxes: int, device: torch.device
    ) -> Callable[[], Tensor]:
        """``normal()`` -> the next ``[B, N, 4]`` standard normal noise of the sampling.

        One generator per image, each seeded with ``seed``: an image's noise, and so its result,
        does not depend on the other images in its batch. (The ONNX export replaces this with
        the same values as constants: ``mmcofnet/deploy``.)
        """
        generators = [torch.Generator(device).manual_seed(seed) for _ in range(batch_size)]

        def normal() -> Tensor:
            return torch.stack(
                [torch.randn(num_boxes, 4, generator=g, device=device) for g in generators]
            )

        return normal


class _PeakQueue:
    """Objectness peaks not used yet, handed out strongest first to the boxes that renewal drops.

    Args:
        peaks (Tensor): ``[B, P, 4]`` encoded boxes at the peaks, strongest first.
        num_peaks (Tensor): ``[B]`` how many of them are true peaks (the rest are not handed
            out).
    """

    def __init__(self, peaks: Tensor, num_peaks: Tensor) -> None:
        self.peaks = peaks
        self.num_peaks = num_peaks
        self.used = torch.zeros_like(num_peaks)  # [B] peaks handed out

    def take(self, renew: Tensor, fallback: Tensor) -> Tensor:
        """Boxes for the ``renew`` slots ``[B, N]``: the next peaks, ``fallback`` once none is left.

        Returns:
            Tensor: ``[B, N, 4]``, the next peaks in the renewed slots (in slot order) and
            ``fallback`` elsewhere.
        """
        if self.peaks.shape[1] == 0:
            return fallback
        order = self.used[:, None] + renew.long().cumsum(dim=1) - 1  # [B, N] peak per slot
        self.used = self.used + renew.sum(dim=1)
        index = order.clamp(0, self.peaks.shape[1] - 1)[..., None].expand(-1, -1, 4)
        available = renew & (order < self.num_peaks[:, None])
        return torch.where(available[..., None], self.peaks.gather(1, index), fallback)
