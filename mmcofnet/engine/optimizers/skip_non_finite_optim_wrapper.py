"""An OptimWrapper that does not step on a non-finite loss."""

from __future__ import annotations

import torch
import torch.distributed as torch_dist
from mmdet.registry import OPTIM_WRAPPERS
from mmengine.optim import OptimWrapper


@OPTIM_WRAPPERS.register_module()
class SkipNonFiniteOptimWrapper(OptimWrapper):
    """mmengine's ``OptimWrapper`` that skips the update when the loss is NaN or infinite.

    One NaN step (a batch whose boxes overflow, a loss at a singular point) would write NaN into
    every weight through the optimizer's moments, and the run would go on training a dead model.
    Here a non-finite loss skips its backward pass and optimizer step; the weights and the
    optimizer state stay as they were. Under torchrun the processes agree first (one all-reduce
    of a flag), so that all of them skip together and no process waits in a gradient all-reduce
    alone. ``NonFiniteLossHook`` names the skipped iterations' loss terms and stops a run that
    keeps producing them.

    With gradient accumulation (``accumulative_counts``) a skipped iteration counts as one of its
    window, and a window that ends on it steps with the gradients the window has.

    Takes the arguments of ``OptimWrapper``.
    """

    skipped = False  # whether the last update was skipped

    def update_params(
        self, loss: torch.Tensor, step_kwargs: dict | None = None, zero_kwargs: dict | None = None
    ) -> None:
        self.skipped = not self._all_finite(loss)
        if not self.skipped:
            super().update_params(loss, step_kwargs, zero_kwargs)
            return
        self._inner_count += 1
        if self.should_update():
            if any(p.grad is not None for group in self.param_groups for p in group['params']):
                self.step(**(step_kwargs or {}))
            self.zero_grad(**(zero_kwargs or {}))

    @staticmethod
    def _all_finite(loss: torch.Tensor) -> bool:
        finite = torch.isfinite(loss.detach()).all().float()
        if torch_dist.is_available() and torch_dist.is_initialized():
            torch_dist.all_reduce(finite, op=torch_dist.ReduceOp.MIN)
        return bool(finite)
