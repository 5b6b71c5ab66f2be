# halmstad-sky: real 640x512 sky videos (airplane, bird, drone, helicopter), as JPEG frames + COCO
# JSON written by
#   python tools/dataset_converters/halmstad2coco.py --src ../shared/data/halmstad-sky \
#       --out data/halmstad-sky-coco --step 10
# Training crops frames at native resolution around objects (small objects survive); validation
# and test see full 640x512 frames. To evaluate another COCO split, point the dataset and the
# evaluator at it together (the evaluator reads the ground truth from its own ann_file):
#   python tools/test.py CONFIG CKPT --cfg-options test_dataloader.dataset.data_root=ROOT/ \
#       test_dataloader.dataset.ann_file=annotations/SPLIT.json \
#       test_evaluator.ann_file=ROOT/annotations/SPLIT.json
dataset_type = 'SkyCocoDataset'  # CocoDataset with its boxes validated at loading
data_root = 'data/halmstad-sky-coco/'
metainfo = dict(
    classes=('AIRPLANE', 'BIRD', 'DRONE', 'HELICOPTER'),
    palette=[(255, 190, 60), (80, 200, 120), (60, 140, 255), (250, 90, 250)],
)
crop_size = (320, 320)
backend_args = None

train_pipeline = [
    # Unreadable or truncated images: skipped with a warning in training, an error in tests.
    dict(type='LoadCheckedImageFromFile', skip_corrupt=True, backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='SmallObjectCrop', crop_size=crop_size, object_prob=0.8),
    # Horizontal only: the camera looks up, so ground and treetops stay at the bottom.
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadCheckedImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale_factor=1.0, keep_ratio=True),  # full frames, native resolution
    # Pad to the stride by repeating the border: the models trained on crops never saw padding, and
    # the data preprocessor's constant padding reads as a bright edge that draws false boxes.
    dict(type='Pad', size_divisor=32, padding_mode='edge'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        metainfo=metainfo,
        data_root=data_root,
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline,
        backend_args=backend_args,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        metainfo=metainfo,
        data_root=data_root,
        ann_file='annotations/val.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args,
    ),
)
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/val.json',
    metric='bbox',
    classwise=True,
    backend_args=backend_args,
)
test_evaluator = val_evaluator
