# Unlabelled sky video rendered on the fly (the embedded default for self-supervised pretraining):
# clips with objects moving and the camera panning; pairs of frames (t, t + k), k in 1-3, cropped
# and flipped alike, with the motion targets (optical flow, camera motion removed, motion mask).
crop_size = (320, 320)
train_pipeline = [
    dict(type='LoadFramePair'),
    dict(type='PairRandomCrop', crop_size=crop_size),
    dict(type='PairRandomFlip', prob=0.5),
    dict(type='MotionTargets'),
    dict(type='PackPairInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='SkyVideoPairDataset',
        synthetic=dict(num_clips=200, img_size=(1080, 720), seed=0, num_frames=30),
        frame_gap=(1, 3),
        pairs_per_clip=10,
        pipeline=train_pipeline,
    ),
)
val_dataloader = None
val_evaluator = None
test_dataloader = None
test_evaluator = None
