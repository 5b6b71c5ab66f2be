"""COFNet: MambaBackbone -> Continuous Scale Field -> diffusion box head."""

from __future__ import annotations

from mmdet.models.detectors.base import BaseDetector
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor

from ..necks.continuous_scale_field import FieldFeatures


def build_backbone_and_field(
    detector: BaseDetector, backbone: ConfigType, neck: ConfigType, needs: tuple[str, ...]
) -> None:
    """Builds ``detector.backbone`` and ``detector.neck``, a field with the methods ``needs``.

    Raises:
        TypeError: Naming the detector and the neck when the neck lacks one of them.
    """
    detector.backbone = MODELS.build(backbone)
    detector.neck = MODELS.build(neck)
    missing = [name for name in needs if not hasattr(detector.neck, name)]
    if missing:
        raise TypeError(
            f'{type(detector).__name__}: neck {type(detector.neck).__name__} has no '
            f'{"/".join(missing)}; use ContinuousScaleField'
        )


@MODELS.register_module()
class COFNet(BaseDetector):
    """Continuous Object Field Network.

    The backbone's maps become the levels of a :class:`ContinuousScaleField`; the box head reads
    per-box features from the field, each at the box's own continuous scale
    (``neck.box_sampler``), while it denoises boxes.

    Args:
        backbone (ConfigType): Backbone config (``MambaBackbone``).
        neck (ConfigType): Neck config; it must provide ``build_levels`` and ``box_sampler``
            (the ``ContinuousScaleField`` does).
        bbox_head (ConfigType): Head config (``DiffusionBoxHead``).
        train_cfg, test_cfg (OptConfigType): Passed to the head (matcher; sampling and
            post-processing).
        data_preprocessor (OptConfigType): Data preprocessor config.
        init_cfg (OptMultiConfig): Initialisation config.
    """

    def __init__(
        self,
        backbone: ConfigType,
        neck: ConfigType,
        bbox_head: ConfigType,
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        data_preprocessor: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        build_backbone_and_field(self, backbone, neck, ('build_levels', 'box_sampler'))
        bbox_head = dict(bbox_head, train_cfg=train_cfg, test_cfg=test_cfg)
        bbox_head.setdefault('objectness_stride', self.neck.in_strides[0])  # the finest level
        self.bbox_head = MODELS.build(bbox_head)
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def extract_feat(self, batch_inputs: Tensor) -> list[Tensor]:
        """Field levels, ``[B, C, H_l, W_l]`` per backbone level (no extra coarse levels)."""
        return self.neck.build_levels(self.backbone(batch_inputs), max_scale=0.0)

    def _field(self, batch_inputs: Tensor) -> FieldFeatures:
        levels = self.extract_feat(batch_inputs)
        return FieldFeatures(levels, self.neck.box_sampler(levels))

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> dict[str, Tensor]:
        """Losses of a batch (non-finite predictions give NaN losses: the step is skipped)."""
        return self.bbox_head.loss(self._field(batch_inputs), batch_data_samples)

    def predict(
        self, batch_inputs: Tensor, batch_data_samples: SampleList, rescale: bool = True
    ) -> SampleList:
        """Detections in ``pred_instances`` of each sample (boxes in the original image)."""
        results = self.bbox_head.predict(
            self._field(batch_inputs), batch_data_samples, rescale=rescale
        )
        return self.add_pred_to_datasample(batch_data_samples, results)

    def _forward(
        self, batch_inputs: Tensor, batch_data_samples: OptSampleList = None
    ) -> tuple[Tensor, Tensor]:
        """Raw inference (the full DDIM loop, no post-processing) for FLOPs and export.

        Needs nothing but the images: every image is taken at the input's full size.

        Returns:
            tuple: class logits ``[B, N, K]`` and boxes ``[B, N, 4]`` (xyxy px).
        """
        b, _, h, w = batch_inputs.shape
        img_wh = batch_inputs.new_tensor([[[w, h]]]).expand(b, 1, 2)
        return self.bbox_head(self._field(batch_inputs), img_wh)
