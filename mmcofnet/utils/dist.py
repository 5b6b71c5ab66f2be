"""Distributed training on CPU machines under torchrun, as mmengine runs it on GPUs.

mmengine 0.10's ``init_dist('pytorch')`` calls ``torch.cuda.set_device`` before it starts the
process group, and its runner wraps the model in ``DistributedDataParallel`` with
``device_ids=[LOCAL_RANK]``: both fail on a machine without CUDA, whatever the backend. Where CUDA
is absent, :func:`setup_cpu_distributed` starts the process group itself with gloo (the runner then
finds it started and skips ``init_dist``) and asks for the DDP wrapper without device ids. On a
GPU machine it does nothing, and mmengine's own NCCL path runs.
"""

from __future__ import annotations

from datetime import timedelta

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log


def setup_cpu_distributed(cfg: Config) -> bool:
    """Starts a gloo process group for ``cfg.launcher='pytorch'`` on a machine without CUDA.

    Args:
        cfg: The run's config; ``env_cfg.dist_cfg`` is set to gloo and ``model_wrapper_cfg`` to
            a CPU ``MMDistributedDataParallel`` when the group is started here.

    Returns:
        Whether the process group was started here.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    if torch_dist.is_initialized():
        return False
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'gloo') != 'gloo':
        print_log(
            f'env_cfg.dist_cfg.backend={dist_cfg["backend"]!r} needs CUDA, which this machine '
            'lacks: using gloo',
            logger='current',
        )
    dist_cfg['backend'] = 'gloo'
    torch_dist.init_process_group(
        backend='gloo', timeout=timedelta(seconds=dist_cfg.get('timeout', 1800))
    )
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None  # the runner's default, [LOCAL_RANK], is for GPU modules only
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper
    return True
