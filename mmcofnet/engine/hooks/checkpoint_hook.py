"""mmengine's CheckpointHook, with checkpoints that a killed process cannot leave half-written."""

from __future__ import annotations

import glob
import os
import os.path as osp

from mmdet.registry import HOOKS
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.runner import Runner

from mmcofnet.utils.atomic_file import atomic_write

PARTIAL_SUFFIX = '.part'


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that writes each checkpoint whole or not at all, and deletes after.

    mmengine 0.10 deletes the oldest kept checkpoint (``max_keep_ckpts``) first, then writes the
    new one under its final name: a process killed while it writes leaves a truncated
    ``iter_N.pth`` and the previous one already gone. Here the checkpoint is written to
    ``iter_N.pth.part`` and renamed when complete, then ``last_checkpoint`` (which ``--resume``
    reads) is replaced atomically, and only then are the outdated checkpoints deleted: at any
    moment the last good checkpoint is on disk and ``last_checkpoint`` names it. A ``.part`` file
    left by a killed run is removed when training starts again.

    Takes every argument of ``CheckpointHook``. Checkpoints written to other storage backends
    (``backend_args``, ``out_dir`` on an object store) are saved as ``CheckpointHook`` saves them.
    """

    def before_train(self, runner: Runner) -> None:
        super().before_train(runner)
        if is_main_process() and self._is_local():
            for partial in glob.glob(osp.join(self.out_dir, f'*{PARTIAL_SUFFIX}')):
                runner.logger.warning(f'removing {partial}: a killed run left it unfinished')
                os.remove(partial)

    def _is_local(self) -> bool:
        return isinstance(self.file_backend, LocalBackend)

    def _save_checkpoint_with_step(self, runner: Runner, step: int, meta: dict) -> None:
        if not self._is_local():
            super()._save_checkpoint_with_step(runner, step, meta)
            return
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(  # writes on the main process only
            self.out_dir,
            ckpt_filename + PARTIAL_SUFFIX,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args,
        )
        if not is_main_process():
            return
        os.replace(self.last_ckpt + PARTIAL_SUFFIX, self.last_ckpt)
        last_ckpt = self.last_ckpt.encode()
        atomic_write(osp.join(runner.work_dir, 'last_checkpoint'), lambda f: f.write(last_ckpt))
        for old_step in outdated:
            old = osp.join(self.out_dir, self.filename_tmpl.format(old_step))
            if osp.isfile(old):
                os.remove(old)
