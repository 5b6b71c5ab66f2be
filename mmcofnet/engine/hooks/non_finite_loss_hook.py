"""Names the iterations whose losses are not finite, and stops a run that keeps producing them."""

from __future__ import annotations

import math

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.optim import AmpOptimWrapper
from mmengine.runner import Runner

from ..optimizers import SkipNonFiniteOptimWrapper


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Warns on every iteration with a NaN or infinite loss term; stops after too many in a row.

    The warning names the iteration, the loss terms and the batch's images, and says whether the
    optimizer step was skipped (``SkipNonFiniteOptimWrapper``, or AMP's loss scaler) or taken.
    ``max_in_a_row`` such iterations in a row stop the run with a ``FloatingPointError`` that
    names the last iteration and its terms: a run that produces nothing but NaN is diverging, and
    training on would only spend time.

    Args:
        max_in_a_row (int): Consecutive iterations with a non-finite loss that stop the run.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, max_in_a_row: int = 5) -> None:
        if max_in_a_row < 1:
            raise ValueError(f'NonFiniteLossHook: max_in_a_row={max_in_a_row} must be >= 1')
        self.max_in_a_row = max_in_a_row
        self.in_a_row = 0

    def after_train_iter(
        self, runner: Runner, batch_idx: int, data_batch=None, outputs: dict | None = None
    ) -> None:
        bad = [k for k, v in (outputs or {}).items() if 'loss' in k and not math.isfinite(float(v))]
        if not bad:
            self.in_a_row = 0
            return
        self.in_a_row += 1
        terms = [k for k in bad if k != 'loss'] or bad
        iteration = runner.iter + 1
        samples = (data_batch or {}).get('data_samples', [])
        images = [s.metainfo.get('img_path', s.metainfo.get('img_id')) for s in samples]
        if isinstance(runner.optim_wrapper, (SkipNonFiniteOptimWrapper, AmpOptimWrapper)):
            action = 'the optimizer step was skipped'
        else:
            action = (
                f'the optimizer stepped anyway ({type(runner.optim_wrapper).__name__}; '
                "optim_wrapper.type='SkipNonFiniteOptimWrapper' skips such steps)"
            )
        runner.logger.warning(
            f'iteration {iteration}: non-finite loss terms {terms} on images {images}: {action} '
            f'({self.in_a_row} in a row)'
        )
        if self.in_a_row >= self.max_in_a_row:
            raise FloatingPointError(
                f'stopping at iteration {iteration}: non-finite losses in {self.in_a_row} '
                f'iterations in a row (terms {terms}); the run diverges: lower the learning rate '
                'or check the data'
            )
