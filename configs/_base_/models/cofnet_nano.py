# COFNet-nano (CPU-sized): MambaBackbone-nano -> Continuous Scale Field read at strides 8-32 ->
# DiffusionBoxHead (128-dim denoiser, 3 stages, 100 boxes). Each box reads the field at its own
# continuous scale; inference is DDIM from noise in test_cfg.sampling_steps steps.
model = dict(
    type='COFNet',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[103.53, 116.28, 123.675],
        std=[57.375, 57.12, 58.395],
        bgr_to_rgb=False,
        pad_size_divisor=32,
    ),
    backbone=dict(type='MambaBackbone', arch='nano', out_indices=(1, 2, 3), drop_path_rate=0.1),
    neck=dict(
        type='ContinuousScaleField',
        in_channels=[64, 128, 256],
        in_strides=[8, 16, 32],
        out_channels=96,
        out_scales=[1 / 3, 2 / 3, 1.0],
        roi_size=7,
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='SiLU', inplace=True),
    ),
    bbox_head=dict(
        type='DiffusionBoxHead',
        num_classes=3,
        feat_channels=96,
        roi_size=7,
        embed_dims=128,
        num_heads=4,
        num_stages=3,
        ffn_dims=512,
        num_proposals=100,
        diffusion=True,  # False: the single-shot variant (learned proposals, one pass)
        # The design's default is noise prediction; sampling in 1-8 DDIM steps starts at t = T - 1,
        # where sqrt(alpha_bar) = 4.9e-5 (cosine schedule), so x0 recovered from a predicted noise
        # is 2e4 times the noise's error: the configs predict x0 (as DiffusionDet) instead.
        prediction='x0',
        schedule='cosine',
        snr_scale=2.0,
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0),
        loss_noise=dict(type='MSELoss', loss_weight=1.0),
        loss_objectness=dict(type='GaussianFocalLoss', loss_weight=1.0),
        loss_objectness_size=dict(type='L1Loss', loss_weight=0.5),
        loss_objectness_offset=dict(type='L1Loss', loss_weight=1.0),
    ),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='FocalLossCost', weight=2.0),
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0),
            ],
        ),
        match_times=4,  # one-to-many, as DiffusionDet's dynamic-k matching; NMS at test time
        pad_with='repeat',  # the extra matches are noised copies of the same object
        # t = T u^6: most training steps at the small t where a noised box still sees its object
        # (the sampler starts from the map's peaks at t = 7); README, Results: the recipe table
        timestep_power=6.0,
    ),
    test_cfg=dict(
        sampling_steps=1,  # 1-8; at test time: --cfg-options model.test_cfg.sampling_steps=4
        eta=1.0,
        box_renewal=True,
        renewal_thr=0.5,
        ensemble=True,
        seed=0,
        # Start 100 boxes at the objectness map's peaks, sampling from t = 7 (up to 8 steps), and
        # score boxes with the map too: boxes from pure noise rarely land on objects a few pixels
        # wide.
        prior_proposals=100,
        prior_t=7,
        objectness_score=True,
        score_thr=0.15,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=100,
    ),
)
