"""DiffusionBoxHead: boxes denoised from noise (DDPM training, DDIM sampling in 1-8 steps)."""

from __future__ import annotations

import torch
from mmcv.ops import batched_nms
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh, get_box_tensor
from mmdet.utils import ConfigType, InstanceList, OptConfigType, OptMultiConfig
from mmengine.config import ConfigDict
from mmengine.model import BaseModule, bias_init_with_prob
from mmengine.structures import InstanceData
from torch import Tensor, nn

from ..layers.denoising_stage import DenoisingStage
from ..layers.objectness_map import ObjectnessMap
from ..losses.set_criterion import DEFAULT_ASSIGNER, SetCriterion
from ..necks.continuous_scale_field import BoxSampler, FieldFeatures
from ..task_modules.box_encoding import decode_boxes, encode_boxes, random_boxes, timestep_embedding
from ..task_modules.ddim_sampler import DDIMBoxSampler
from ..task_modules.noise_schedule import NoiseSchedule

TRAIN_CFG_KEYS = ('assigner', 'match_times', 'timestep_power', 'pad_with', 'prior_prob')
DEFAULT_TEST_CFG = dict(
    sampling_steps=1,
    eta=1.0,
    box_renewal=True,
    renewal_thr=0.5,
    ensemble=True,
    seed=0,
    prior_proposals=0,
    prior_t=7,
    objectness_score=False,
    score_thr=0.15,
    nms=dict(type='nms', iou_threshold=0.5),
    max_per_img=100,
)


@MODELS.register_module()
class DiffusionBoxHead(BaseModule):
    """Detects by denoising boxes: DDPM training, DDIM sampling with 1-8 steps.

    Training (as DiffusionDet): the ground-truth boxes of an image, padded with random boxes to
    ``num_proposals``, are encoded as (cx, cy, w, h) in [-snr_scale, snr_scale], noised to a random
    step t by :meth:`NoiseSchedule.q_sample`, and denoised by ``num_stages`` refinement stages
    (each samples per-box features where the previous one put the boxes). Losses: the
    noise-prediction MSE (``prediction='noise'``) plus the set-prediction criterion
    (:class:`SetCriterion`: focal + L1 + GIoU after a Hungarian matching) on every stage's boxes.

    Inference (:class:`DDIMBoxSampler`): DDIM from pure noise, ``sampling_steps`` steps
    (``test_cfg``, switchable with ``--cfg-options model.test_cfg.sampling_steps=4``); box renewal
    replaces low-score boxes by fresh noise between steps; ``ensemble`` keeps every step's boxes
    for the final NMS. Repeatable per image: noise comes from one generator per image seeded by
    ``test_cfg.seed``.

    The :class:`ObjectnessMap` (CenterNet-style centre heatmaps, sizes and offsets on the finest
    field level) is trained beside the boxes. Two test-time options use it, both off by default:
    ``prior_proposals=K`` starts the first K boxes at the map's K strongest peaks, from step
    ``prior_t`` (see :class:`DDIMBoxSampler`); ``objectness_score=True`` scores each box by the
    geometric mean of its class probability and the map's value for that class at its centre.

    ``diffusion=False`` is the single-shot variant: learned proposal boxes and features (as
    Sparse R-CNN) go through the same stages once, without noise or step conditioning (with
    ``prior_proposals``, the map's peaks replace the first learned boxes).

    Args:
        num_classes (int): Number of classes.
        feat_channels (int): Channels of the sampled per-box features (the neck's
            ``out_channels``).
        roi_size (int): Side of the per-box feature grid (the neck's ``roi_size``).
        embed_dims (int): Width of the box queries.
        num_heads (int): Attention heads.
        num_stages (int): Refinement stages of the denoiser.
        ffn_dims (int): FFN width.
        num_proposals (int): Boxes per image.
        diffusion (bool): False for the single-shot variant.
        prediction (str): What the box branch predicts: ``'noise'`` (eps, DDPM's
            parameterisation) or ``'x0'`` (deltas from the input boxes to the clean boxes, as
            DiffusionDet).
        num_timesteps (int): T of the noise schedule.
        schedule (str): ``'cosine'`` or ``'linear'``.
        snr_scale (float): Signal scale of the box encoding.
        box_embed_size (float): Box geometry (cx, cy, w, h) enters the box embedding in pixels
            divided by this, whatever the image size: a model trained on crops then embeds a
            full frame's boxes as it did in training. Normalised by the image size (as
            DiffusionDet), an object 12 px wide on a 1080-px frame would look 3.4 times smaller
            than the same object on a 320-px training crop.
        num_cls_fcs, num_reg_fcs (int): Hidden layers of the class and box branches.
        dropout (float): Dropout of the attention and FFN layers.
        bbox_coder (ConfigType): Decodes the ``'x0'`` deltas.
        loss_cls, loss_bbox, loss_iou (ConfigType): The :class:`SetCriterion`'s losses (focal,
            or ``VarifocalLoss`` for quality-aware scores; L1 on boxes normalised by the image
            size; GIoU).
        loss_noise (ConfigType): Noise MSE (``prediction='noise'``).
        loss_objectness (OptConfigType): The :class:`ObjectnessMap`'s heatmap loss; None leaves
            the map out.
        loss_objectness_size, loss_objectness_offset (ConfigType): The map's size and offset
            losses.
        objectness_stride (int): Stride of the finest field level, where the map is predicted.
        train_cfg (OptConfigType): ``assigner`` and ``match_times`` of the :class:`SetCriterion`
            (one-to-many above 1: NMS removes the duplicates at test time) and
            ``timestep_power`` (training steps t = T u ** power, u uniform; default 1) and
            ``pad_with`` (``'random'`` boxes, or ``'repeat'`` the ground truth, as DiffusionDet
            can: every object then has several noised copies to match) and ``prior_prob`` (the
            share of the images trained as they are sampled with ``test_cfg.prior_proposals``:
            from the map's peaks, see :meth:`start_at_peaks`; default 0).
        test_cfg (OptConfigType): Sampling and post-processing (see ``DEFAULT_TEST_CFG``).
        init_cfg (OptMultiConfig): Initialisation config.
    """

    def __init__(
        self,
        num_classes: int,
        feat_channels: int = 256,
        roi_size: int = 7,
        embed_dims: int = 256,
        num_heads: int = 8,
        num_stages: int = 6,
        ffn_dims: int = 1024,
        num_proposals: int = 300,
        diffusion: bool = True,
        prediction: str = 'noise',
        num_timesteps: int = 1000,
        schedule: str = 'cosine',
        snr_scale: float = 2.0,
        box_embed_size: float = 1000.0,
        num_cls_fcs: int = 1,
        num_reg_fcs: int = 3,
        dropout: float = 0.0,
        bbox_coder: ConfigType = dict(
            type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[0.5, 0.5, 1.0, 1.0]
        ),
        loss_cls: ConfigType = dict(
            type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0
        ),
        loss_bbox: ConfigType = dict(type='L1Loss', loss_weight=5.0),
        loss_iou: ConfigType = dict(type='GIoULoss', loss_weight=2.0),
        loss_noise: ConfigType = dict(type='MSELoss', loss_weight=1.0),
        loss_objectness: OptConfigType = dict(type='GaussianFocalLoss', loss_weight=1.0),
        loss_objectness_size: ConfigType = dict(type='L1Loss', loss_weight=0.5),
        loss_objectness_offset: ConfigType = dict(type='L1Loss', loss_weight=1.0),
        objectness_stride: int = 8,
        train_cfg: OptConfigType = None,
        test_cfg: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if prediction not in ('noise', 'x0'):
            raise ValueError(f"DiffusionBoxHead: prediction='{prediction}' is not 'noise' or 'x0'")
        self.num_classes = num_classes
        self.embed_dims = embed_dims
        self.num_proposals = num_proposals
        self.diffusion = diffusion
        self.prediction = prediction if diffusion else 'x0'
        self.snr_scale = snr_scale
        self.box_embed_size = box_embed_size
        self.schedule = NoiseSchedule(num_timesteps, schedule)

        time_dims = 4 * embed_dims if diffusion else 0
        self.stages = nn.ModuleList(
            DenoisingStage(
                feat_channels,
                embed_dims,
                num_heads,
                ffn_dims,
                roi_size,
                num_classes,
                time_dims,
                num_cls_fcs,
                num_reg_fcs,
                dropout,
            )
            for _ in range(num_stages)
        )
        self.box_embed = nn.Sequential(
            nn.Linear(embed_dims, embed_dims),
            nn.ReLU(inplace=True),
            nn.Linear(embed_dims, embed_dims),
        )
        if diffusion:
            self.time_embed = nn.Sequential(
                nn.Linear(embed_dims, time_dims), nn.GELU(), nn.Linear(time_dims, time_dims)
            )
        else:  # learned proposals, normalised (cx, cy, w, h), spread as the diffusion's noise
            self.proposal_boxes = nn.Parameter(random_boxes(num_proposals))
            self.proposal_feats = nn.Embedding(num_proposals, embed_dims)

        self.bbox_coder = TASK_UTILS.build(bbox_coder)
        train_cfg = ConfigDict(train_cfg or {})
        self.criterion = SetCriterion(
            num_classes,
            train_cfg.get('assigner', DEFAULT_ASSIGNER),
            train_cfg.get('match_times', 1),
            loss_cls,
            loss_bbox,
            loss_iou,
        )
        self.loss_noise = MODELS.build(loss_noise)
        self.objectness = (
            ObjectnessMap(
                num_classes,
                feat_channels,
                objectness_stride,
                loss_objectness,
                loss_objectness_size,
                loss_objectness_offset,
            )
            if loss_objectness is not None
            else None
        )
        prior_prob = float(train_cfg.get('prior_prob', 0.0))
        if not 0 <= prior_prob <= 1 or (
            prior_prob > 0 and (not diffusion or self.prediction != 'x0' or loss_objectness is None)
        ):
            raise ValueError(
                f'DiffusionBoxHead: train_cfg.prior_prob={prior_prob} must be in '
                "[0, 1], and above 0 only with diffusion, prediction='x0' and "
                'the objectness map'
            )
        self.train_cfg = train_cfg
        self.test_cfg = ConfigDict({**DEFAULT_TEST_CFG, **(test_cfg or {})})
        self._check_cfgs()
        self.sampler = DDIMBoxSampler(self.schedule, snr_scale)

    def _check_cfgs(self) -> None:
        """Rejects unknown ``train_cfg`` / ``test_cfg`` keys and out-of-range sampling at build
        time, instead of ignoring a typo or failing at the first validation."""
        for name, cfg, known in (
            ('train_cfg', self.train_cfg, TRAIN_CFG_KEYS),
            ('test_cfg', self.test_cfg, tuple(DEFAULT_TEST_CFG)),
        ):
            unknown = sorted(set(cfg) - set(known))
            if unknown:
                raise ValueError(
                    f'DiffusionBoxHead: unknown {name} keys {unknown}; known: {sorted(known)}'
                )
        if self.train_cfg.get('pad_with', 'random') not in ('random', 'repeat'):
            raise ValueError(
                f'DiffusionBoxHead: train_cfg.pad_with={self.train_cfg.pad_with!r} is not '
                "'random' or 'repeat'"
            )
        if self.diffusion:  # raises, naming the value, when sampling_steps or prior_t is off
            cfg = self.test_cfg
            prior_t = int(cfg.prior_t) if cfg.prior_proposals > 0 else None
            self.schedule.ddim_timesteps(int(cfg.sampling_steps), prior_t)

    def init_weights(self) -> None:
        super().init_weights()
        for stage in self.stages:
            nn.init.constant_(stage.cls_out.bias, bias_init_with_prob(0.01))
            # Stages start by keeping the boxes they are given (zero deltas or zero noise).
            nn.init.zeros_(stage.reg_out.weight)
            nn.init.zeros_(stage.reg_out.bias)

    # -- the denoiser ------------------------------------------------------------------------

    def denoise(
        self,
        sampler: BoxSampler,
        boxes: Tensor,
        img_wh: Tensor,
        t: Tensor | None = None,
        x_t: Tensor | None = None,
        query: Tensor | None = None,
    ) -> list[tuple[Tensor, Tensor, Tensor | None]]:
        """Runs the refinement stages from ``boxes``.

        Args:
            sampler (BoxSampler): Per-box feature sampler (see ``BoxSampler``).
            boxes (Tensor): ``[B, N, 4]`` input boxes (xyxy, px): the decoded ``x_t``, or the
                proposals.
            img_wh (Tensor): ``[B, 1, 2]`` image sizes (width, height).
            t (Tensor, optional): ``[B]`` diffusion steps (diffusion only).
            x_t (Tensor, optional): ``[B, N, 4]`` the noisy signal (``prediction='noise'``
                only).
            query (Tensor, optional): ``[B, N, D]`` initial queries added to the box embedding
                (single-shot).

        Returns:
            list: per stage, class logits ``[B, N, K]``, denoised boxes ``[B, N, 4]`` (xyxy px)
            and the predicted noise ``[B, N, 4]`` (None unless ``prediction='noise'``).
        """
        b, n = boxes.shape[:2]
        geometry = bbox_xyxy_to_cxcywh(boxes) / self.box_embed_size
        coords = timestep_embedding(geometry.flatten() * 1000, self.embed_dims // 4)
        embedded = self.box_embed(coords.view(b, n, -1))
        query = embedded if query is None else query + embedded
        time_emb = (
            self.time_embed(timestep_embedding(t, self.embed_dims)) if self.diffusion else None
        )
        outputs = []
        for k, stage in enumerate(self.stages):
            finite = bool(torch.isfinite(boxes).all())
            if not finite:  # the field's sampler would fail on their indices
                if not self.training:
                    raise FloatingPointError(
                        f'DiffusionBoxHead: non-finite boxes before stage {k} samples the field '
                        '(a diverging run: check the learning rate and the losses)'
                    )
                boxes = torch.nan_to_num(boxes, nan=0.0, posinf=0.0, neginf=0.0)
            query, cls_logits, raw = stage(query, sampler(boxes), time_emb)
            if not finite:  # training: the stage's losses are non-finite, the step is skipped
                cls_logits = cls_logits + float('nan')
            if self.prediction == 'noise':
                x0 = self.schedule.x0_from_noise(x_t, t, raw)
                new_boxes, noise = decode_boxes(x0, img_wh, self.snr_scale), raw
            else:
                new_boxes, noise = self.decode_x0(boxes, raw), None
            outputs.append((cls_logits, new_boxes, noise))
            boxes = new_boxes.detach()
        return outputs

    def forward(self, feats: FieldFeatures, img_wh: Tensor) -> tuple[Tensor, Tensor]:
        """Plain inference for analysis and export: the last step's raw outputs.

        Args:
            feats (FieldFeatures): The field's levels and box sampler.
            img_wh (Tensor): ``[B, 1, 2]`` image sizes (width, height).

        Returns:
            tuple: class logits ``[B, N, K]`` and boxes ``[B, N, 4]`` (xyxy px).
        """
        return self.sample(feats.sample, img_wh, self._objectness(feats))[-1]

    # -- training ----------------------------------------------------------------------------

    def noised_targets(
        self, gt_boxes: list[Tensor], img_wh: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Pads each image's boxes to ``num_proposals`` and diffuses them to a random step.

        Args:
            gt_boxes (list[Tensor]): Per image ``[G_i, 4]`` ground-truth boxes (xyxy px).
            img_wh (Tensor): ``[B, 1, 2]`` image sizes.

        Returns:
            tuple: ``x_0``, noise, ``x_t`` (each ``[B, N, 4]``) and steps ``t`` (``[B]``).
        """
        n, device = self.num_proposals, img_wh.device
        signals = []
        for boxes, wh in zip(gt_boxes, img_wh):
            norm = encode_boxes(boxes, wh, 0.5) + 0.5
            if len(norm) > n:
                norm = norm[torch.randperm(len(norm), device=device)[:n]]
            if self.train_cfg.get('pad_with', 'random') == 'repeat' and len(norm):
                norm = norm.repeat(-(-n // len(norm)), 1)[:n]  # DiffusionDet's repeat padding
            norm = torch.cat([norm, random_boxes(n - len(norm), device=device)])
            signals.append((norm * 2 - 1) * self.snr_scale)
        x0 = torch.stack(signals)
        # u ** power: power 1 is DDPM's uniform t; larger powers favour the small t at which a
        # noised box still overlaps an object a few pixels wide.
        power = float(self.train_cfg.get('timestep_power', 1.0))
        t = (torch.rand(len(x0), device=device) ** power * self.schedule.num_timesteps).long()
        noise = torch.randn_like(x0)
        x_t = self.schedule.q_sample(x0, t, noise).clamp(-self.snr_scale, self.snr_scale)
        return x0, noise, x_t, t

    def start_at_peaks(
        self,
        objectness: Tensor | None,
        x0: Tensor,
        noise: Tensor,
        x_t: Tensor,
        t: Tensor,
        img_wh: Tensor,
        num_gts: list[int],
    ) -> tuple[Tensor, Tensor]:
        """Trains a share of the images on the boxes that sampling starts from at test time.

        With ``test_cfg.prior_proposals`` the sampler starts at the strongest peaks of the
        objectness map, at step ``test_cfg.prior_t``, and most peaks of a sky frame are sky. Boxes
        noised from the ground truth are all near objects, so stages trained only on them never
        learn to score a peak on empty sky low: on halmstad-sky their class scores ranked the
        map's peaks worse than chance (docs/halmstad_study.md). Each image is, with probability
        ``train_cfg.prior_prob``, started as at test time: at step ``prior_t``, its boxes are the
        map's strongest peaks (detached: the stages learn from the map, the map from its own
        loss), except that the first of them are its objects, noised to that step, so that every
        object has a box to be matched to even where the map has no peak yet.

        Args:
            objectness (Tensor, optional): ``[B, K + 4, H, W]`` the objectness map, or None (no
                change).
            x0, noise, x_t (Tensor): ``[B, N, 4]`` of :meth:`noised_targets` (the first ``G_i``
                boxes of image i are its objects).
            t (Tensor): ``[B]`` steps of :meth:`noised_targets`.
            img_wh (Tensor): ``[B, 1, 2]`` image sizes.
            num_gts (list[int]): ``G_i``, the objects per image.

        Returns:
            tuple: ``x_t`` and ``t``, changed for the images started at the peaks.
        """
        prob = float(self.train_cfg.get('prior_prob', 0.0))
        if prob <= 0 or objectness is None:
            return x_t, t
        chosen = torch.rand(len(x_t), device=x_t.device) < prob
        if not chosen.any():
            return x_t, t
        num_peaks = min(
            int(self.test_cfg.prior_proposals) or self.num_proposals, self.num_proposals
        )
        peaks, _ = self.objectness.peaks(objectness.detach(), num_peaks)
        peaks = encode_boxes(peaks, img_wh, self.snr_scale)
        t = torch.where(chosen, torch.full_like(t, int(self.test_cfg.prior_t)), t)
        at_prior_t = self.schedule.q_sample(x0, t, noise).clamp(-self.snr_scale, self.snr_scale)
        x_t = torch.where(chosen[:, None, None], at_prior_t, x_t)
        for i in chosen.nonzero().flatten().tolist():
            g = min(num_gts[i], peaks.shape[1])
            x_t[i, g : peaks.shape[1]] = peaks[i, : peaks.shape[1] - g]
        return x_t, t

    def loss(self, feats: FieldFeatures, batch_data_samples: SampleList) -> dict[str, Tensor]:
        """Denoises the noised ground truth (or the proposals) and returns the losses.

        Args:
            feats (FieldFeatures): The field's levels and box sampler.
            batch_data_samples (SampleList): Samples with ``gt_instances`` and
                ``metainfo['img_shape']``.

        Returns:
            dict[str, Tensor]: see :meth:`loss_by_feat`.
        """
        img_metas = [s.metainfo for s in batch_data_samples]
        gts = [
            InstanceData(bboxes=get_box_tensor(s.gt_instances.bboxes), labels=s.gt_instances.labels)
            for s in batch_data_samples
        ]
        img_wh = self._image_sizes(img_metas)
        objectness = self.objectness(feats.levels[0]) if self.objectness is not None else None
        if self.diffusion:
            x0, noise, x_t, t = self.noised_targets([g.bboxes for g in gts], img_wh)
            x_t, t = self.start_at_peaks(
                objectness, x0, noise, x_t, t, img_wh, [len(g.bboxes) for g in gts]
            )
            outputs = self.denoise(
                feats.sample, decode_boxes(x_t, img_wh, self.snr_scale), img_wh, t, x_t
            )
        else:
            noise = None
            boxes, query = self._proposals(img_wh)
            outputs = self.denoise(feats.sample, boxes, img_wh, query=query)
        return self.loss_by_feat(outputs, objectness, noise, gts, img_metas)

    def loss_by_feat(
        self,
        outputs: list[tuple[Tensor, Tensor, Tensor | None]],
        objectness: Tensor | None,
        noise: Tensor | None,
        gts: InstanceList,
        img_metas: list[dict],
    ) -> dict[str, Tensor]:
        """Losses of every stage (the last stage's keys carry no prefix) and of the objectness map.

        Args:
            outputs (list[tuple[Tensor, Tensor, Tensor | None]]): :meth:`denoise`'s per-stage
                class logits ``[B, N, K]``, boxes ``[B, N, 4]`` and predicted noise ``[B, N, 4]``
                (or None).
            objectness (Tensor, optional): ``[B, K + 4, H, W]`` the objectness map, or None.
            noise (Tensor, optional): ``[B, N, 4]`` the noise added to the targets
                (``prediction='noise'``).
            gts (InstanceList): Per image ground truth (``bboxes`` in pixels, ``labels``).
            img_metas (list[dict]): Per image meta information.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``loss_iou`` (and ``loss_noise``),
            the same per earlier stage with prefix ``s{k}.``, and the map's ``loss_objectness``,
            ``loss_objectness_size`` and ``loss_objectness_offset``. A stage whose predictions
            are not finite gets NaN losses without matching (``SkipNonFiniteOptimWrapper`` then
            skips the step and ``NonFiniteLossHook`` names it).
        """
        img_wh = self._image_sizes(img_metas)
        losses = {}
        for k, (cls_logits, boxes, pred_noise) in enumerate(outputs):
            if torch.isfinite(cls_logits).all() and torch.isfinite(boxes).all():
                stage = self.criterion(cls_logits, boxes, gts, img_metas, img_wh)
            else:  # no matching on NaN costs: the stage's losses are NaN, the step is skipped
                nan = cls_logits.new_tensor(float('nan'))
                stage = dict(loss_cls=nan, loss_bbox=nan, loss_iou=nan)
            if pred_noise is not None:
                stage['loss_noise'] = self.loss_noise(pred_noise, noise)
            prefix = '' if k == len(outputs) - 1 else f's{k}.'
            losses.update({prefix + key: value for key, value in stage.items()})
        if objectness is not None:
            losses.update(self.objectness.loss(objectness, gts))
        return losses

    def decode_x0(self, boxes: Tensor, deltas: Tensor) -> Tensor:
        """A stage's denoised boxes: ``deltas [B, N, 4]`` applied to its ``boxes [B, N, 4]``."""
        b, n = boxes.shape[:2]
        return self.bbox_coder.decode(boxes.reshape(-1, 4), deltas.reshape(-1, 4)).view(b, n, 4)

    # -- inference ---------------------------------------------------------------------------

    def sample(
        self, sampler: BoxSampler, img_wh: Tensor, objectness: Tensor | None = None
    ) -> list[tuple[Tensor, Tensor]]:
        """DDIM sampling (or the single-shot pass): class logits and boxes after each step.

        Args:
            sampler (BoxSampler): Per-box feature sampler.
            img_wh (Tensor): ``[B, 1, 2]`` image sizes.
            objectness (Tensor, optional): ``[B, K + 4, H, W]`` objectness map, for
                ``test_cfg.prior_proposals``.

        Returns:
            list: per step, class logits ``[B, N, K]`` and boxes ``[B, N, 4]`` (xyxy px).
        """
        cfg = self.test_cfg
        use_prior = cfg.prior_proposals > 0 and objectness is not None
        if not self.diffusion:
            boxes, query = self._proposals(img_wh)
            if use_prior:  # the map's peaks replace the first learned boxes
                prior, _ = self.objectness.peaks(
                    objectness, min(int(cfg.prior_proposals), self.num_proposals)
                )
                boxes = torch.cat([prior, boxes[:, prior.shape[1] :]], dim=1)
            cls_logits, boxes, _ = self.denoise(sampler, boxes, img_wh, query=query)[-1]
            return [(cls_logits, boxes)]

        def denoise(boxes: Tensor, t: Tensor, x_t: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
            return self.denoise(sampler, boxes, img_wh, t, x_t)[-1]

        peaks = (lambda k: self.objectness.peaks(objectness, k)) if use_prior else None
        return self.sampler(denoise, img_wh, self.num_proposals, cfg, peaks)

    def predict(
        self, feats: FieldFeatures, batch_data_samples: SampleList, rescale: bool = True
    ) -> InstanceList:
        """Detections per image (``bboxes``, ``scores``, ``labels``).

        Args:
            feats (FieldFeatures): The field's levels and box sampler.
            batch_data_samples (SampleList): Samples with ``metainfo`` (``img_shape``,
                ``scale_factor``).
            rescale (bool): Map boxes back to the original image.

        Returns:
            list[InstanceData]: one per image.
        """
        img_metas = [s.metainfo for s in batch_data_samples]
        objectness = self._objectness(feats)
        steps = self.sample(feats.sample, self._image_sizes(img_metas), objectness)
        return self.predict_by_feat(steps, objectness, img_metas, rescale)

    def predict_by_feat(
        self,
        steps: list[tuple[Tensor, Tensor]],
        objectness: Tensor | None,
        img_metas: list[dict],
        rescale: bool = True,
    ) -> InstanceList:
        """Post-processing: scores, then per image top-k, threshold and NMS over the steps.

        Args:
            steps (list[tuple[Tensor, Tensor]]): :meth:`sample`'s class logits ``[B, N, K]`` and
                boxes ``[B, N, 4]`` per step (all kept with ``test_cfg.ensemble``, else the
                last).
            objectness (Tensor, optional): ``[B, K + 4, H, W]`` the map, for
                ``test_cfg.objectness_score``.
            img_metas (list[dict]): Per image meta information (``img_shape``,
                ``scale_factor``).
            rescale (bool): Map boxes back to the original image.

        Returns:
            list[InstanceData]: one per image.
        """
        if not self.test_cfg.ensemble:
            steps = steps[-1:]
        for k, (logits, boxes) in enumerate(steps):
            tensors = dict(cls_logits=logits, boxes=boxes)
            if objectness is not None and self.test_cfg.objectness_score:
                tensors['objectness'] = objectness
            _check_finite(f'predictions of step {k} before post-processing', tensors, img_metas)
        steps = [(self._scores(logits, boxes, objectness), boxes) for logits, boxes in steps]
        return [
            self._predict_single(
                [cls[i] for cls, _ in steps], [box[i] for _, box in steps], meta, rescale
            )
            for i, meta in enumerate(img_metas)
        ]

    def _predict_single(
        self, cls_scores: list[Tensor], boxes: list[Tensor], img_meta: dict, rescale: bool
    ) -> InstanceData:
        """Top-k per step, boxes clipped to the frame, then score threshold, class-wise NMS and
        ``max_per_img``."""
        cfg = self.test_cfg
        all_boxes, all_scores, all_labels = [], [], []
        for step_scores, step_boxes in zip(cls_scores, boxes):
            scores = step_scores.flatten()
            scores, index = scores.topk(min(cfg.max_per_img, len(scores)))
            all_scores.append(scores)
            all_labels.append(index % self.num_classes)
            all_boxes.append(step_boxes[index // self.num_classes])
        bboxes, scores, labels = (torch.cat(x) for x in (all_boxes, all_scores, all_labels))
        h, w = _frame_size(img_meta)
        bboxes = torch.stack(
            [
                bboxes[:, 0].clamp(0, w),
                bboxes[:, 1].clamp(0, h),
                bboxes[:, 2].clamp(0, w),
                bboxes[:, 3].clamp(0, h),
            ],
            dim=-1,
        )
        keep = (
            (scores > cfg.score_thr) & (bboxes[:, 2] > bboxes[:, 0]) & (bboxes[:, 3] > bboxes[:, 1])
        )
        bboxes, scores, labels = bboxes[keep], scores[keep], labels[keep]
        if len(bboxes) and cfg.get('nms') is not None:
            dets, keep = batched_nms(bboxes, scores, labels, cfg.nms)
            bboxes, scores, labels = dets[:, :4], dets[:, 4], labels[keep]
        bboxes, scores, labels = (x[: cfg.max_per_img] for x in (bboxes, scores, labels))
        if rescale and 'scale_factor' in img_meta:
            bboxes = bboxes / bboxes.new_tensor(img_meta['scale_factor']).repeat(2)
        return InstanceData(bboxes=bboxes, scores=scores, labels=labels)

    # -- helpers -----------------------------------------------------------------------------

    def _proposals(self, img_wh: Tensor) -> tuple[Tensor, Tensor]:
        """Single-shot learned boxes ``[B, N, 4]`` (xyxy px) and queries ``[B, N, D]``."""
        batch_size = len(img_wh)
        norm = self.proposal_boxes.clamp(0, 1).expand(batch_size, -1, -1)
        boxes = decode_boxes(norm * 2 - 1, img_wh, 1.0)
        return boxes, self.proposal_feats.weight.expand(batch_size, -1, -1)

    def _objectness(self, feats: FieldFeatures) -> Tensor | None:
        """The objectness map when a test option uses it (it is not computed otherwise)."""
        cfg = self.test_cfg
        if self.objectness is None or (cfg.prior_proposals <= 0 and not cfg.objectness_score):
            return None
        return self.objectness(feats.levels[0])

    def _scores(self, cls_logits: Tensor, boxes: Tensor, objectness: Tensor | None) -> Tensor:
        """Class probabilities ``[B, N, K]``, fused with the map when ``objectness_score``."""
        scores = cls_logits.sigmoid()
        if objectness is not None and self.test_cfg.objectness_score:
            scores = (scores * self.objectness.scores_at(objectness, boxes)).sqrt()
        return scores

    def _image_sizes(self, img_metas: list[dict]) -> Tensor:
        """``[B, 1, 2]`` (width, height) of each image from ``img_shape``, on the head's device."""
        return self.schedule.alphas_cumprod.new_tensor([[m['img_shape'][::-1]] for m in img_metas])


def _frame_size(img_meta: dict) -> tuple[float, float]:
    """``(height, width)`` of the image itself in the input's pixels, padding left out.

    ``Pad`` makes ``img_shape`` the padded size; the frame is ``ori_shape`` scaled by
    ``scale_factor`` (``(w_scale, h_scale)``), where the meta has them.
    """
    if 'ori_shape' in img_meta:
        sx, sy = img_meta.get('scale_factor', (1.0, 1.0))
        h, w = img_meta['ori_shape'][:2]
        return h * sy, w * sx
    return tuple(img_meta['img_shape'][:2])


def _check_finite(what: str, tensors: dict[str, Tensor], img_metas: list[dict]) -> None:
    """Raises ``FloatingPointError`` naming the tensors and images when any value is NaN/inf."""
    bad = [name for name, value in tensors.items() if not torch.isfinite(value).all()]
    if bad:
        images = [m.get('img_path', m.get('img_id')) for m in img_metas]
        raise FloatingPointError(f'DiffusionBoxHead: non-finite {what} {bad} on images {images}')
