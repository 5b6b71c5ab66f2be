"""Inference speed (images per second, latency) of a test run, data loading excluded."""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.runner import Runner


@HOOKS.register_module()
class InferenceSpeedHook(Hook):
    """Times the model's share of every test iteration and reports ``fps`` and ``latency_ms``.

    The clock runs from ``before_test_iter`` to ``after_test_iter``. The hook has the highest
    priority, so its ``before_test_iter`` runs first (only cheap hooks such as the iteration timer
    run after it) and its ``after_test_iter`` runs before drawing or logging hooks. The window
    holds ``model.test_step`` (data preprocessor, forward, post-processing such as NMS) and the
    evaluator's ``process`` (copying the predictions to the CPU); loading the batch happens before
    it. On CUDA the device is synchronised at both ends, so queued kernels are counted.

    The first ``num_warmup`` iterations (lazy initialisation, allocator and cuDNN warm-up) are not
    counted; a test set too short for that keeps at least its last iteration. At the end of the
    test the hook logs a line and adds ``fps`` (images per second) and ``latency_ms`` (mean time of
    an iteration, that is of one image at batch size 1) to the test metrics, so that the log line
    of the test epoch, the JSON log and ``runner.test()``'s result carry them. Under a distributed
    launcher each process reports its own share.

    Args:
        num_warmup (int): Iterations left out at the start. Defaults to 5.
    """

    priority = 'HIGHEST'

    def __init__(self, num_warmup: int = 5) -> None:
        if num_warmup < 0:
            raise ValueError(f'num_warmup must be >= 0, got {num_warmup}')
        self.num_warmup = num_warmup
        self.seconds: list[float] = []  # one per iteration
        self.images: list[int] = []  # images in each iteration
        self._cuda = False
        self._start = 0.0

    def before_test(self, runner: Runner) -> None:
        self.seconds, self.images = [], []
        params = next(runner.model.parameters(), None)
        self._cuda = params is not None and params.is_cuda

    def _now(self) -> float:
        if self._cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def before_test_iter(
        self, runner: Runner, batch_idx: int, data_batch: dict | None = None
    ) -> None:
        self._start = self._now()

    def after_test_iter(
        self,
        runner: Runner,
        batch_idx: int,
        data_batch: dict | None = None,
        outputs: Sequence | None = None,
    ) -> None:
        self.seconds.append(self._now() - self._start)
        self.images.append(len(outputs) if outputs is not None else 1)

    def summary(self) -> dict[str, float]:
        """Speed over the iterations after warm-up.

        Returns:
            dict[str, float]: ``fps`` (images per second), ``latency_ms`` (mean milliseconds per
            iteration), ``images`` (images timed) and ``warmup`` (iterations left out); empty if
            no iteration ran.
        """
        if not self.seconds:
            return {}
        warmup = min(self.num_warmup, len(self.seconds) - 1)
        seconds, images = sum(self.seconds[warmup:]), sum(self.images[warmup:])
        iterations = len(self.seconds) - warmup
        return dict(
            fps=images / seconds if seconds > 0 else float('inf'),
            latency_ms=1000 * seconds / iterations,
            images=images,
            warmup=warmup,
        )

    def after_test_epoch(self, runner: Runner, metrics: dict[str, float] | None = None) -> None:
        speed = self.summary()
        if not speed:
            return
        device = 'cuda' if self._cuda else 'cpu'
        runner.logger.info(
            f'Inference speed on {device}: fps: {speed["fps"]:.2f} img/s, latency_ms: '
            f'{speed["latency_ms"]:.2f} ms per iteration ({speed["images"]} images after '
            f'{speed["warmup"]} warm-up iterations; model time, data loading excluded)'
        )
        if speed['warmup'] < self.num_warmup:
            runner.logger.warning(
                f'Only {speed["warmup"]} of {self.num_warmup} warm-up iterations could be left '
                'out: the test set is short, the speed may be too low'
            )
        if metrics is not None:  # runs before RuntimeInfoHook, which hands them to the logger
            metrics['fps'] = round(speed['fps'], 3)
            metrics['latency_ms'] = round(speed['latency_ms'], 3)
