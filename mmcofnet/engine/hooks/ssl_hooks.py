"""Hooks of self-supervised pretraining: loss-weight schedules, pretrained-weights export."""

from __future__ import annotations

import os.path as osp
from collections.abc import Sequence

import torch
from mmdet.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from torch import nn

from mmcofnet.utils.atomic_file import atomic_write

DEFAULT_PREFIXES = ('backbone.', 'neck.', 'bbox_head.objectness.')


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a model wrapper (DDP, FSDP, ...), or the model itself."""
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class SSLLossWeightHook(Hook):
    """Sets loss weights of the model (``model.loss_weights[name]``) by iteration.

    Each scheduled weight is 0 before ``start``, rises linearly to ``value`` at ``end`` and stays
    at ``value`` after (iterations, counted from 0). ``COFNetSSL`` uses it to warm the temporal
    consistency loss up once the motion loss has shaped the objectness map: before that the map's
    peaks are noise and matching them across frames teaches nothing. Weights not in the schedule
    keep their values. The weights are logged as ``weight_<name>`` (message hub scalars
    ``train/weight_<name>``).

    Args:
        schedule (dict[str, dict]): Per loss name, ``dict(start=..., end=..., value=...)``, for
            example ``dict(temporal=dict(start=100, end=200, value=1.0))``.
    """

    priority = 'NORMAL'

    def __init__(self, schedule: dict[str, dict]) -> None:
        if not schedule:
            raise ValueError('SSLLossWeightHook: schedule is empty')
        self.schedule: dict[str, tuple[int, int, float]] = {}
        for name, entry in schedule.items():
            missing = {'start', 'end', 'value'} - set(entry)
            extra = set(entry) - {'start', 'end', 'value'}
            if missing or extra:
                raise ValueError(
                    f'SSLLossWeightHook: schedule[{name!r}]={dict(entry)} must have exactly the '
                    f'keys start, end and value (missing {sorted(missing)}, unknown '
                    f'{sorted(extra)})'
                )
            start, end, value = int(entry['start']), int(entry['end']), float(entry['value'])
            if not 0 <= start <= end:
                raise ValueError(
                    f'SSLLossWeightHook: schedule[{name!r}] needs 0 <= start <= end, got '
                    f'start={start}, end={end}'
                )
            self.schedule[name] = (start, end, value)

    def weight(self, name: str, iteration: int) -> float:
        """The weight of loss ``name`` at iteration ``iteration``."""
        start, end, value = self.schedule[name]
        if iteration < start:
            return 0.0
        if iteration >= end:
            return value
        return value * (iteration - start) / (end - start)

    def before_train_iter(
        self, runner: Runner, batch_idx: int, data_batch: dict | None = None
    ) -> None:
        model = unwrap(runner.model)
        weights = getattr(model, 'loss_weights', None)
        if not isinstance(weights, dict):
            raise TypeError(
                f'SSLLossWeightHook: model {type(model).__name__} has no loss_weights dict '
                '(use COFNetSSL)'
            )
        for name in self.schedule:
            if name not in weights:
                raise KeyError(
                    f'SSLLossWeightHook: schedule names {name!r}, which is not in the '
                    f"model's loss_weights {sorted(weights)}"
                )
            weights[name] = self.weight(name, runner.iter)
            runner.message_hub.update_scalar(f'train/weight_{name}', weights[name])


@HOOKS.register_module()
class PretrainedWeightsHook(Hook):
    """Writes the pretrained weights that a fine-tuning config loads (``load_from``).

    After every saved checkpoint and at the end of training, the parameters and buffers of the
    model whose names start with one of ``prefixes`` (by default COFNet's backbone, Continuous
    Scale Field and objectness map, whose keys ``COFNetSSL`` shares) are written to
    ``{work_dir}/{out}`` as ``dict(state_dict=..., meta=dict(iter=..., source='COFNetSSL',
    prefixes=[...]))``, which mmengine's ``load_checkpoint`` reads. After a checkpoint the
    weights are the checkpoint's own (an ``EMAHook`` puts its averaged weights there). The file is
    replaced atomically (a temporary file in the same folder, then ``os.replace``), so a reader
    never sees half a file. Only the main process writes.

    Args:
        out (str): File name, relative to the work directory (or an absolute path).
        prefixes (Sequence[str]): Prefixes of the state-dict keys to export.
    """

    priority = 'LOW'

    def __init__(self, out: str = 'pretrained.pth', prefixes: Sequence[str] = DEFAULT_PREFIXES):
        if isinstance(prefixes, str):
            prefixes = (prefixes,)
        if not prefixes or not all(isinstance(p, str) and p for p in prefixes):
            raise ValueError(
                f'PretrainedWeightsHook: prefixes={prefixes!r} must be non-empty strings'
            )
        self.out = out
        self.prefixes = tuple(prefixes)
        self._exported_iter: int | None = None

    def after_save_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        state_dict = checkpoint.get('state_dict')
        if state_dict is None:
            state_dict = unwrap(runner.model).state_dict()
        iteration = checkpoint.get('meta', {}).get('iter', runner.iter)
        self.export(runner, state_dict, iteration)

    def after_train(self, runner: Runner) -> None:
        if self._exported_iter == runner.iter:  # the last checkpoint's weights are written
            return
        self.export(runner, unwrap(runner.model).state_dict(), runner.iter)

    def export(self, runner: Runner, state_dict: dict, iteration: int) -> str | None:
        """Writes the weights with the prefixes; returns the path (None on other processes).

        Args:
            runner (Runner): The runner (its ``work_dir``).
            state_dict (dict): The model's full state dict.
            iteration (int): Iterations trained, for the file's meta.

        Returns:
            str | None: The path written.
        """
        self._exported_iter = int(iteration)
        if not is_main_process():
            return None
        selected = {
            key: value.detach().cpu() if isinstance(value, torch.Tensor) else value
            for key, value in state_dict.items()
            if key.startswith(self.prefixes)
        }
        if not selected:
            raise KeyError(
                f'PretrainedWeightsHook: no state-dict key starts with {list(self.prefixes)} '
                f'(model {type(unwrap(runner.model)).__name__})'
            )
        path = osp.join(runner.work_dir, self.out)
        meta = dict(iter=int(iteration), source='COFNetSSL', prefixes=list(self.prefixes))
        atomic_write(path, lambda f: torch.save(dict(state_dict=selected, meta=meta), f))
        return path
