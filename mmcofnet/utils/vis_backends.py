"""TensorBoard and W&B as mmengine visualizer backends, optional and checked up front.

The config key is ``visualizer.vis_backends`` (mmdet's default runtime sets
``[dict(type='LocalVisBackend')]``). Add ``dict(type='TensorboardVisBackend')`` (needs
``pip install tensorboard``; logs under ``<work_dir>/<timestamp>/vis_data``) or
``dict(type='WandbVisBackend', init_kwargs=dict(project=...))`` (needs ``pip install wandb`` and a
W&B login) to record losses, metrics and drawn images there too; ``tools/train.py`` and
``tools/test.py`` do it with ``--vis-backend tensorboard wandb``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from mmengine.config import Config

# name -> (mmengine backend type, module the backend imports, pip package)
VIS_BACKENDS = {
    'tensorboard': ('TensorboardVisBackend', 'tensorboard', 'tensorboard'),
    'wandb': ('WandbVisBackend', 'wandb', 'wandb'),
}


def add_vis_backends(cfg: Config, names: Sequence[str]) -> None:
    """Appends the backends ``names`` (keys of ``VIS_BACKENDS``) to ``cfg.visualizer``.

    Args:
        cfg (Config): A config with a ``visualizer``.
        names (Sequence[str]): ``'tensorboard'`` and/or ``'wandb'``.

    Raises:
        KeyError: If a name is unknown or the config has no visualizer.
    """
    if cfg.get('visualizer') is None:
        raise KeyError('the config has no visualizer to add vis_backends to')
    backends = list(cfg.visualizer.get('vis_backends') or [])
    types = {backend['type'] for backend in backends}
    for name in names:
        if name not in VIS_BACKENDS:
            raise KeyError(f'unknown vis backend {name!r}; choose from {sorted(VIS_BACKENDS)}')
        if VIS_BACKENDS[name][0] not in types:
            backends.append(dict(type=VIS_BACKENDS[name][0]))
            types.add(VIS_BACKENDS[name][0])
    cfg.visualizer.vis_backends = backends


def check_vis_backends(cfg: Config) -> None:
    """Fails now, with the install command, if a configured backend's package is missing.

    mmengine imports TensorBoard or W&B only when the backend first writes, deep into a run.

    Args:
        cfg (Config): A config, with or without a ``visualizer``.

    Raises:
        ImportError: Naming the backend and the package to install.
    """
    backends = (cfg.get('visualizer') or {}).get('vis_backends') or []
    for backend in backends:
        backend_type = str(backend.get('type', '')).split('.')[-1]
        for name, (known_type, module, package) in VIS_BACKENDS.items():
            if backend_type == known_type and importlib.util.find_spec(module) is None:
                raise ImportError(
                    f'visualizer.vis_backends asks for {known_type} ({name}), but the '
                    f'{package!r} package is not installed: pip install {package} (or remove the '
                    'backend from the config / the --vis-backend option)'
                )
