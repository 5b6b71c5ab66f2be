"""COFNetSSL: self-supervised pretraining of COFNet's backbone, field and objectness map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmdet.models.detectors.base import BaseDetector
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.config import ConfigDict
from mmengine.model import ModuleDict
from mmengine.structures import InstanceData
from torch import Tensor

from ..layers.objectness_map import ObjectnessMap
from .cofnet import build_backbone_and_field

# total = temporal + 0.5 * motion (the design's weights).
DEFAULT_LOSS_WEIGHTS = dict(motion=0.5, temporal=1.0)
DEFAULT_TEST_CFG = dict(num_peaks=100, score_thr=0.0)


@MODELS.register_module()
class COFNetSSL(BaseDetector):
    """COFNet's backbone, Continuous Scale Field and objectness map, trained on unlabelled video.

    Inputs are frame pairs ``(t, t + k)`` (``SkyPairDataPreprocessor``: ``[B, 6, H, W]``, frame
    t's channels first). Both frames go through the backbone and the field in one batch of 2B;
    the objectness map reads the finest field level, as in COFNet. Two losses train it:

    - ``loss_motion`` (:class:`MotionSegmentationLoss`): frame t's class-agnostic objectness
      against frame t's motion mask. Only frame t: the mask (from the flow t -> t + k) marks
      where the moving things are in frame t; in frame t + k they have moved on, and warping the
      mask forward would leave holes and doubled edges for little gain.
    - ``loss_temporal`` (:class:`TemporalConsistencyLoss`): frame t's detections moved by the
      flow agree with frame t + k's.

    Each is multiplied by its entry of ``self.loss_weights`` (a plain dict, which
    ``SSLLossWeightHook`` changes during training).

    The state-dict keys are COFNet's: ``backbone.*``, ``neck.*`` and ``bbox_head.objectness.*``
    (the map is held in a ``ModuleDict`` named ``bbox_head``), so that COFNet loads a COFNetSSL
    checkpoint (``load_from``) with every backbone, field and map weight.

    Args:
        backbone (ConfigType): Backbone config (``MambaBackbone``).
        neck (ConfigType): Neck config; it must provide ``build_levels`` (the
            ``ContinuousScaleField`` does).
        objectness (ConfigType): ``ObjectnessMap`` config; ``in_channels`` and ``stride``
            default to the neck's ``out_channels`` and finest ``in_strides``, as in COFNet.
            Set ``num_classes`` to the fine-tuning data's, so that the map's shapes match.
        loss_motion (ConfigType): The motion segmentation loss.
        loss_temporal (ConfigType): The temporal consistency loss.
        loss_weights (dict, optional): ``motion`` and ``temporal`` weights (default 0.5 and 1.0).
        test_cfg (OptConfigType): ``num_peaks`` (detections per image, default 100) and
            ``score_thr`` (default 0.0) of :meth:`predict`.
        data_preprocessor (OptConfigType): Data preprocessor config
            (``SkyPairDataPreprocessor``).
        init_cfg (OptMultiConfig): Initialisation config.
    """

    def __init__(
        self,
        backbone: ConfigType,
        neck: ConfigType,
        objectness: ConfigType,
        loss_motion: ConfigType = dict(type='MotionSegmentationLoss'),
        loss_temporal: ConfigType = dict(type='TemporalConsistencyLoss'),
        loss_weights: dict[str, float] | None = None,
        test_cfg: OptConfigType = None,
        data_preprocessor: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        build_backbone_and_field(self, backbone, neck, ('build_levels',))
        objectness = dict(objectness)
        objectness.setdefault('in_channels', self.neck.out_channels)
        objectness.setdefault('stride', self.neck.in_strides[0])  # the finest level
        self.bbox_head = ModuleDict(dict(objectness=MODELS.build(objectness)))
        if not isinstance(self.objectness, ObjectnessMap):
            raise TypeError(
                f'COFNetSSL: objectness must be an ObjectnessMap, got '
                f'{type(self.objectness).__name__}'
            )
        self.loss_motion = MODELS.build(loss_motion)
        self.loss_temporal = MODELS.build(loss_temporal)
        unknown = set(loss_weights or {}) - set(DEFAULT_LOSS_WEIGHTS)
        if unknown:
            raise ValueError(
                f'COFNetSSL: loss_weights has unknown keys {sorted(unknown)} (known: '
                f'{sorted(DEFAULT_LOSS_WEIGHTS)})'
            )
        self.loss_weights = {
            name: float(value)
            for name, value in {**DEFAULT_LOSS_WEIGHTS, **(loss_weights or {})}.items()
        }
        self.test_cfg = ConfigDict({**DEFAULT_TEST_CFG, **(test_cfg or {})})

    @property
    def objectness(self) -> ObjectnessMap:
        """The objectness map (``bbox_head.objectness``)."""
        return self.bbox_head['objectness']

    def extract_feat(self, batch_inputs: Tensor) -> list[Tensor]:
        """Field levels, ``[N, C, H_l, W_l]`` per backbone level, of ``[N, 3, H, W]`` images."""
        return self.neck.build_levels(self.backbone(batch_inputs), max_scale=0.0)

    def maps(self, batch_inputs: Tensor) -> tuple[Tensor, Tensor]:
        """The objectness maps of both frames of each pair, in one pass of 2B images.

        Args:
            batch_inputs (Tensor): ``[B, 6, H, W]`` frame pairs.

        Returns:
            tuple: ``[B, K + 4, h, w]`` map logits of frame t and of frame t + k.
        """
        if batch_inputs.dim() != 4 or batch_inputs.shape[1] != 6:
            raise ValueError(
                'COFNetSSL: inputs must be [B, 6, H, W] frame pairs (SkyPairDataPreprocessor), '
                f'got {tuple(batch_inputs.shape)}'
            )
        b = batch_inputs.shape[0]
        frames = torch.cat([batch_inputs[:, :3], batch_inputs[:, 3:]], dim=0)
        logits = self.objectness(self.extract_feat(frames)[0])
        return logits[:b], logits[b:]

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> dict[str, Tensor]:
        """The weighted losses of a batch of frame pairs.

        Args:
            batch_inputs (Tensor): ``[B, 6, H, W]`` frame pairs.
            batch_data_samples (SampleList): Samples with ``motion_mask`` (``[1, h, w]``) and
                ``flow`` (``[2, h, w]``, px from frame t to t + k) pixel data.

        Returns:
            dict[str, Tensor]: ``loss_motion`` and ``loss_temporal``, each multiplied by its
            entry of ``loss_weights``.
        """
        size = batch_inputs.shape[-2:]
        masks = stack_pixel_data(batch_data_samples, 'motion_mask', 1, size)
        flows = stack_pixel_data(batch_data_samples, 'flow', 2, size)
        logits_t, logits_k = self.maps(batch_inputs)
        valid = masks.new_zeros(masks.shape)
        for i, sample in enumerate(batch_data_samples):
            img_h, img_w = sample.metainfo.get('img_shape', size)
            valid[i, :, :img_h, :img_w] = 1
        k, objectness = self.objectness.num_classes, self.objectness
        loss_motion = self.loss_motion(
            logits_t[:, :k].amax(dim=1, keepdim=True), masks, objectness.stride, valid
        )
        loss_temporal = self.loss_temporal(logits_t, logits_k, flows, objectness)
        return dict(
            loss_motion=self.loss_weights['motion'] * loss_motion,
            loss_temporal=self.loss_weights['temporal'] * loss_temporal,
        )

    def predict(
        self, batch_inputs: Tensor, batch_data_samples: SampleList, rescale: bool = True
    ) -> SampleList:
        """The map's peaks on frame t as ``pred_instances`` (class-agnostic: labels 0).

        Args:
            batch_inputs (Tensor): ``[B, 6, H, W]`` frame pairs (or ``[B, 3, H, W]`` images).
            batch_data_samples (SampleList): The samples.
            rescale (bool): Boxes in the original image (divided by ``scale_factor``).

        Returns:
            SampleList: The samples with ``pred_instances`` (``bboxes`` xyxy px, ``scores`` the
            heat, ``labels`` 0), strongest first.
        """
        boxes, heat = self.objectness.peaks(self._forward(batch_inputs), self.test_cfg.num_peaks)
        results = []
        for sample, sample_boxes, sample_heat in zip(batch_data_samples, boxes, heat):
            keep = sample_heat > self.test_cfg.score_thr
            sample_boxes, sample_heat = sample_boxes[keep], sample_heat[keep]
            if rescale and 'scale_factor' in sample.metainfo:
                sample_boxes = sample_boxes / sample_boxes.new_tensor(
                    sample.metainfo['scale_factor']
                ).repeat(2)
            results.append(
                InstanceData(
                    bboxes=sample_boxes,
                    scores=sample_heat,
                    labels=torch.zeros_like(sample_heat, dtype=torch.long),
                )
            )
        return self.add_pred_to_datasample(batch_data_samples, results)

    def _forward(self, batch_inputs: Tensor, batch_data_samples: OptSampleList = None) -> Tensor:
        """The objectness map of frame t (for FLOPs analysis and export).

        Args:
            batch_inputs (Tensor): ``[B, 6, H, W]`` frame pairs or ``[B, 3, H, W]`` images.

        Returns:
            Tensor: ``[B, K + 4, h, w]`` map logits.
        """
        if batch_inputs.dim() != 4 or batch_inputs.shape[1] not in (3, 6):
            raise ValueError(
                'COFNetSSL: inputs must be [B, 6, H, W] frame pairs or [B, 3, H, W] images, got '
                f'{tuple(batch_inputs.shape)}'
            )
        return self.objectness(self.extract_feat(batch_inputs[:, :3])[0])


def stack_pixel_data(
    data_samples: SampleList, key: str, channels: int, size: tuple[int, int]
) -> Tensor:
    """Stacks one pixel-data field of the samples, zero-padded (or cropped) to the batch size.

    Args:
        data_samples (SampleList): The samples; each has ``key`` as ``PixelData(data=...)``.
        key (str): The field (``motion_mask`` or ``flow``).
        channels (int): Channels the field must have.
        size (tuple[int, int]): ``(H, W)`` of the batch input.

    Returns:
        Tensor: ``[B, channels, H, W]`` float.
    """
    h, w = size
    stacked = []
    for sample in data_samples:
        if key not in sample:
            raise KeyError(
                f'COFNetSSL: data sample of {sample.metainfo.get("img_path", "?")!r} has no '
                f'{key!r} (build the pairs with PackPairInputs)'
            )
        data = getattr(sample, key).data
        if data.dim() != 3 or data.shape[0] != channels:
            raise ValueError(
                f'COFNetSSL: {key} must be [{channels}, H, W], got {tuple(data.shape)} for '
                f'{sample.metainfo.get("img_path", "?")!r}'
            )
        data = data[:, :h, :w].float()
        stacked.append(F.pad(data, (0, w - data.shape[-1], 0, h - data.shape[-2])))
    return torch.stack(stacked)
