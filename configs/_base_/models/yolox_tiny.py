# mmdet's YOLOX-tiny (CSPDarknet + YOLOXPAFPN + YOLOXHead), trained from scratch. As
# mmdet's yolox_tiny_8xb8-300e_coco.py without its training-time tricks, which belong to its
# 300-epoch COCO recipe: multi-scale batches (BatchSyncRandomResize), mosaic/mixup and the L1
# loss switched on for the last epochs (YOLOXModeSwitchHook). The crops at native resolution
# of the dataset configs take their place.
norm_cfg = dict(type='BN', momentum=0.03, eps=0.001)
act_cfg = dict(type='Swish')
model = dict(
    type='YOLOX',
    data_preprocessor=dict(type='DetDataPreprocessor', pad_size_divisor=32),
    backbone=dict(
        type='CSPDarknet',
        deepen_factor=0.33,
        widen_factor=0.375,
        out_indices=(2, 3, 4),
        use_depthwise=False,
        spp_kernal_sizes=(5, 9, 13),
        norm_cfg=norm_cfg,
        act_cfg=act_cfg,
    ),
    neck=dict(
        type='YOLOXPAFPN',
        in_channels=[96, 192, 384],
        out_channels=96,
        num_csp_blocks=1,
        use_depthwise=False,
        upsample_cfg=dict(scale_factor=2, mode='nearest'),
        norm_cfg=norm_cfg,
        act_cfg=act_cfg,
    ),
    bbox_head=dict(
        type='YOLOXHead',
        num_classes=3,
        in_channels=96,
        feat_channels=96,
        stacked_convs=2,
        strides=(8, 16, 32),
        use_depthwise=False,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg,
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, reduction='sum', loss_weight=1.0),
        loss_bbox=dict(type='IoULoss', mode='square', eps=1e-16, reduction='sum', loss_weight=5.0),
        loss_obj=dict(type='CrossEntropyLoss', use_sigmoid=True, reduction='sum', loss_weight=1.0),
        loss_l1=dict(type='L1Loss', reduction='sum', loss_weight=1.0),
    ),
    train_cfg=dict(assigner=dict(type='SimOTAAssigner', center_radius=2.5)),
    test_cfg=dict(score_thr=0.01, nms=dict(type='nms', iou_threshold=0.65)),
)
