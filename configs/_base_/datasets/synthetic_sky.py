# The embedded default data: night-sky images rendered on the fly (no download, no files).
# Training crops frames at native resolution around objects (small objects survive); validation
# and test see full 1080x720 frames.
dataset_type = 'SyntheticSkyDataset'
img_size = (1080, 720)  # (width, height)
crop_size = (320, 320)

train_pipeline = [
    dict(type='LoadSyntheticSkyImage'),
    dict(type='LoadAnnotations', with_bbox=True),
    # Crops centre a meteorite 5x as often as its share (11% of the boxes, in 31% of the frames):
    # 21% of the object crops show one.
    dict(type='SmallObjectCrop', crop_size=crop_size, object_prob=0.8, class_weights=(1, 1, 5)),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadSyntheticSkyImage'),
    dict(type='Resize', scale_factor=1.0, keep_ratio=True),  # full frames, native resolution
    # Pad to the stride by repeating the border: the models trained on crops never saw padding, and
    # the data preprocessor's constant padding reads as a bright edge that draws false boxes.
    dict(type='Pad', size_divisor=32, padding_mode='edge'),
    dict(type='LoadAnnotations', with_bbox=True),
    # 'instances' lets CocoMetric build the ground truth without an annotation file.
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'instances'),
    ),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        num_images=2000,
        seed=0,
        img_size=img_size,
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        num_images=60,
        seed=1,  # a different seed: scenes disjoint from training
        img_size=img_size,
        test_mode=True,
        pipeline=test_pipeline,
    ),
)
test_dataloader = val_dataloader

val_evaluator = dict(type='CocoMetric', ann_file=None, metric='bbox', classwise=True)
test_evaluator = val_evaluator
