# COFNet-nano's backbone, Continuous Scale Field and objectness map for self-supervised
# pretraining (COFNetSSL): the same modules and state-dict keys as COFNet-nano, so that a
# fine-tuning config loads the pretrained weights with load_from.
_base_ = './cofnet_nano.py'

model = dict(
    _delete_=True,
    type='COFNetSSL',
    data_preprocessor=dict(
        type='SkyPairDataPreprocessor',  # frame pairs: [6, H, W] inputs, each frame normalised
        mean=[103.53, 116.28, 123.675],
        std=[57.375, 57.12, 58.395],
        bgr_to_rgb=False,
        pad_size_divisor=32,
    ),
    backbone={{_base_.model.backbone}},
    neck={{_base_.model.neck}},
    # The map COFNet-nano's head holds; set num_classes to the fine-tuning data's.
    objectness=dict(type='ObjectnessMap', num_classes=3),
    loss_motion=dict(type='MotionSegmentationLoss'),
    loss_temporal=dict(type='TemporalConsistencyLoss'),
    # total = temporal + 0.5 * motion (the design's weights); SSLLossWeightHook warms temporal up.
    loss_weights=dict(motion=0.5, temporal=1.0),
)
