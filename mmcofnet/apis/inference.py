"""Detectors and inputs for the analysis tools: a model from a config, batches of one image."""

from __future__ import annotations

import copy
import logging
import os.path as osp

import torch
from mmdet.registry import DATASETS, MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from torch import nn


def load_config(config: str, cfg_options: dict | None = None) -> Config:
    """Reads a config, applies ``--cfg-options`` and sets the default registry scope.

    Args:
        config (str): Config file path.
        cfg_options (dict, optional): ``key=value`` overrides, as ``DictAction`` parses them.

    Returns:
        Config: The config.

    Raises:
        FileNotFoundError: Naming the config if it does not exist.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config}')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return cfg


def _without_pretrained(cfg: object) -> object:
    """A copy of a model config without ``init_cfg=dict(type='Pretrained', ...)`` entries."""
    if isinstance(cfg, dict):
        out = {}
        for key, value in cfg.items():
            if key == 'init_cfg':
                inits = value if isinstance(value, (list, tuple)) else [value]
                inits = [
                    i for i in inits if not (isinstance(i, dict) and i.get('type') == 'Pretrained')
                ]
                value = inits if isinstance(value, (list, tuple)) else (inits[0] if inits else None)
            out[key] = _without_pretrained(value)
        return type(cfg)(out)
    if isinstance(cfg, (list, tuple)):
        return type(cfg)(_without_pretrained(item) for item in cfg)
    return cfg


def build_detector(cfg: Config, checkpoint: str | None = None, device: str = 'cpu') -> nn.Module:
    """Builds ``cfg.model`` with mmdet's MODELS registry, in eval mode on ``device``.

    Without a checkpoint the model gets the weights training would start from
    (``init_weights()``: e.g. the classification bias of the prior probability, which keeps the
    number of boxes that reach NMS realistic), minus pretrained ones (no download). SyncBN becomes
    BN. ``dataset_meta`` is the test dataset's metainfo (class names, palette).

    Args:
        cfg (Config): A detector config (after :func:`load_config`).
        checkpoint (str, optional): Checkpoint file (``state_dict`` key or a bare state dict).
        device (str): ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.

    Returns:
        nn.Module: The detector.

    Raises:
        FileNotFoundError: Naming the checkpoint if it does not exist.
    """
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    model = revert_sync_batchnorm(MODELS.build(_without_pretrained(copy.deepcopy(cfg.model))))
    if checkpoint is None:
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)  # init_weights prints a line per parameter otherwise
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
    else:
        load_checkpoint(model, checkpoint, map_location='cpu')
    dataset_cfg = cfg.get('test_dataloader', {}).get('dataset')
    if dataset_cfg is not None:
        dataset_cfg = dict(copy.deepcopy(dataset_cfg), lazy_init=True)  # metainfo only
        model.dataset_meta = DATASETS.build(dataset_cfg).metainfo
    model.cfg = cfg
    return model.to(device).eval()


def load_test_batches(cfg: Config, num: int, start: int = 0) -> list[dict]:
    """Samples ``start .. start + num - 1`` of the test dataset, each as a batch of one.

    The dataset of ``cfg.test_dataloader`` runs its pipeline; the batches are what the test
    data loader would give (``pseudo_collate``) at batch size 1. Indices wrap around a short
    dataset.

    Args:
        cfg (Config): A detector config with a ``test_dataloader``.
        num (int): Number of batches.
        start (int): First index.

    Returns:
        list[dict]: ``dict(inputs=[uint8 Tensor [3, H, W]], data_samples=[DetDataSample])``.
    """
    dataset = DATASETS.build(copy.deepcopy(cfg.test_dataloader.dataset))
    if len(dataset) == 0:
        raise ValueError('the test dataset of the config is empty')
    return [pseudo_collate([dataset[(start + i) % len(dataset)]]) for i in range(num)]


def random_batch(
    height: int, width: int, index: int = 0, generator: torch.Generator | None = None
) -> dict:
    """A batch of one random uint8 image of ``height`` x ``width``, as the test loader gives.

    Args:
        height (int): Image height.
        width (int): Image width.
        index (int): ``img_id`` of the sample.
        generator (torch.Generator, optional): Source of the pixels.

    Returns:
        dict: ``dict(inputs=[Tensor [3, H, W]], data_samples=[DetDataSample])``.
    """
    image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator)
    sample = DetDataSample(
        metainfo=dict(
            img_id=index,
            img_path=f'random_{index}.png',
            ori_shape=(height, width),
            img_shape=(height, width),
            scale_factor=(1.0, 1.0),
        )
    )
    return dict(inputs=[image], data_samples=[sample])
