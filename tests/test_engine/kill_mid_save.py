"""Imported by the training runs of test_checkpoint_hook.py (``custom_imports``).

With ``MMCOFNET_KILL_SAVING`` set to a checkpoint's file name, the process writes half of that
checkpoint and kills itself (SIGKILL: no handler, no cleanup), as a machine that goes down mid-save
would. ``RecordResumedStateHook`` writes the state a run starts training from to
``MMCOFNET_RESUMED_STATE``.
"""

import json
import os
import os.path as osp
import signal

from mmdet.registry import HOOKS
from mmengine.fileio.backends.local_backend import LocalBackend
from mmengine.hooks import Hook

_put = LocalBackend.put


def _put_then_die(self, obj, filepath):
    name = os.environ.get('MMCOFNET_KILL_SAVING')
    if name and osp.basename(str(filepath)).startswith(name):
        with open(filepath, 'wb') as f:
            f.write(obj[: len(obj) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    _put(self, obj, filepath)


LocalBackend.put = _put_then_die


@HOOKS.register_module()
class RecordResumedStateHook(Hook):
    """Writes the iteration, learning rate and first optimizer moment a resumed run starts from."""

    def before_train(self, runner):
        optimizer = runner.optim_wrapper.optimizer
        params = [p for group in optimizer.param_groups for p in group['params']]
        index = next((i for i, p in enumerate(params) if optimizer.state.get(p)), None)
        if index is None:  # a fresh run: no optimizer state yet
            return
        state = optimizer.state[params[index]]
        record = dict(
            iter=runner.iter,
            lr=optimizer.param_groups[0]['lr'],
            param_index=index,
            exp_avg_sum=float(state['exp_avg'].sum()),
        )
        with open(os.environ['MMCOFNET_RESUMED_STATE'], 'w') as f:
            json.dump(record, f)
