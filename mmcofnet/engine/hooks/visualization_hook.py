"""Visualization of predictions for datasets with or without image files."""

from __future__ import annotations

import os.path as osp
from collections.abc import Sequence

import cv2
import mmcv
import numpy as np
from mmdet.engine.hooks import DetVisualizationHook
from mmdet.registry import HOOKS
from mmdet.structures import DetDataSample
from mmengine.fileio import get
from mmengine.runner import Runner
from mmengine.utils import mkdir_or_exist
from torch import Tensor


def original_image(
    data_sample: DetDataSample, inputs: Tensor, backend_args: dict | None = None
) -> np.ndarray:
    """RGB ``[H, W, 3]`` uint8 image of a sample at its original size (``ori_shape``).

    Read from ``img_path`` when that file exists; otherwise (an image rendered in memory) the
    network input of the sample, resized back to the original shape.

    Args:
        data_sample (DetDataSample): The sample (``img_path``, ``img_shape``, ``ori_shape``).
        inputs (Tensor): Its input image from the data loader, BGR ``[3, H, W]`` uint8.
        backend_args (dict, optional): File backend arguments for reading ``img_path``.

    Returns:
        np.ndarray: The image.
    """
    if osp.isfile(data_sample.img_path) or '://' in data_sample.img_path:
        return mmcv.imfrombytes(
            get(data_sample.img_path, backend_args=backend_args), channel_order='rgb'
        )
    img_h, img_w = data_sample.img_shape
    img = inputs.permute(1, 2, 0)[:img_h, :img_w].cpu().numpy().astype(np.uint8)  # BGR
    ori_h, ori_w = data_sample.ori_shape
    if (img_h, img_w) != (ori_h, ori_w):
        img = cv2.resize(img, (ori_w, ori_h), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(img[..., ::-1])


@HOOKS.register_module()
class SkyVisualizationHook(DetVisualizationHook):
    """mmdet's ``DetVisualizationHook`` that also works for images rendered in memory.

    mmdet's hook re-reads every image from ``img_path``; ``SyntheticSkyDataset`` has no files.
    When the file does not exist, this hook draws on the network input of the batch instead
    (resized back to the original shape). Arguments are those of ``DetVisualizationHook``.
    """

    def _image(self, data_sample: DetDataSample, inputs) -> np.ndarray:
        """RGB [H, W, 3] uint8 image of a sample at its original size."""
        return original_image(data_sample, inputs, self.backend_args)

    def after_val_iter(
        self, runner: Runner, batch_idx: int, data_batch: dict, outputs: Sequence[DetDataSample]
    ) -> None:
        total_curr_iter = runner.iter + batch_idx
        if self.draw is False or total_curr_iter % self.interval != 0:
            return
        sample = outputs[0]
        self._visualizer.add_datasample(
            osp.basename(sample.img_path) if self.show else 'val_img',
            self._image(sample, data_batch['inputs'][0]),
            data_sample=sample,
            show=self.show,
            wait_time=self.wait_time,
            pred_score_thr=self.score_thr,
            step=total_curr_iter,
        )

    def after_test_iter(
        self, runner: Runner, batch_idx: int, data_batch: dict, outputs: Sequence[DetDataSample]
    ) -> None:
        if self.draw is False:
            return
        if self.test_out_dir is not None:
            self.test_out_dir = osp.join(runner.work_dir, runner.timestamp, self.test_out_dir)
            mkdir_or_exist(self.test_out_dir)
        for sample, inputs in zip(outputs, data_batch['inputs']):
            self._test_index += 1
            out_file = None
            if self.test_out_dir is not None:
                out_file = osp.join(self.test_out_dir, osp.basename(sample.img_path))
            self._visualizer.add_datasample(
                osp.basename(sample.img_path) if self.show else 'test_img',
                self._image(sample, inputs),
                data_sample=sample,
                show=self.show,
                wait_time=self.wait_time,
                pred_score_thr=self.score_thr,
                out_file=out_file,
                step=self._test_index,
            )
