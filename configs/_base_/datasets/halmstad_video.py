# halmstad-sky's training videos as unlabelled sky video for self-supervised pretraining (their
# labels are not read). Link the dataset into data/ first:
#   ln -s /path/to/halmstad-sky data/halmstad-sky
# Pairs of frames (t, t + k), k in 1-3, cropped at native resolution and flipped alike, with the
# motion targets (optical flow, the camera's pan and tilt removed, motion mask).
data_root = 'data/halmstad-sky/'
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
        data_root=data_root,
        video_glob='videos/train/*.mp4',
        frame_gap=(1, 3),
        pairs_per_clip=10,
        pipeline=train_pipeline,
    ),
)
val_dataloader = None
val_evaluator = None
test_dataloader = None
test_evaluator = None
