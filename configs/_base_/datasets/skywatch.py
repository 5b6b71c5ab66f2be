# SkyWatch: the real night-sky target (Plane, WildLife, meteorite; 1080x720 frames, tiny objects),
# in our COCO layout: data/skywatch/annotations/{train,valid,test}.json and data/skywatch/images/.
# From Roboflow's YOLOv8 export:
#   python tools/dataset_converters/yolo2coco.py PATH/TO/EXPORT data/skywatch
# Roboflow's COCO export ({train,valid,test}/_annotations.coco.json beside the images) reads as
# it is: set data_root to the export, ann_file='valid/_annotations.coco.json' and
# data_prefix=dict(img='valid/') (or leave data_prefix out: images default to the folder of the
# annotation file). SkyWatchDataset matches category names ignoring case and skips Roboflow's
# dataset-level category.
# The evaluator takes the ground truth from the dataset ('instances' in the meta keys, no
# ann_file): CocoMetric would match category names exactly, and pycocotools never counts a match
# to an annotation with id 0, which Roboflow's exports have. So evaluating another split only
# needs the dataset's paths:
#   python tools/test.py CONFIG CKPT --cfg-options test_dataloader.dataset.data_root=ROOT/ \
#       test_dataloader.dataset.ann_file=test/_annotations.coco.json \
#       test_dataloader.dataset.data_prefix.img=test/
dataset_type = 'SkyWatchDataset'
data_root = 'data/skywatch/'
crop_size = (320, 320)
backend_args = None

train_pipeline = [
    # Unreadable or truncated images: skipped with a warning in training, an error in tests.
    dict(type='LoadCheckedImageFromFile', skip_corrupt=True, backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='SmallObjectCrop', crop_size=crop_size, object_prob=0.8),
    # Horizontal only: frames can show the horizon, which stays at the bottom.
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadCheckedImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale_factor=1.0, keep_ratio=True),  # full 1080x720 frames
    # Pad to the stride by repeating the border: the models trained on crops never saw padding, and
    # the data preprocessor's constant padding reads as a bright edge that draws false boxes.
    dict(type='Pad', size_divisor=32, padding_mode='edge'),
    dict(type='LoadAnnotations', with_bbox=True),
    # 'instances' lets CocoMetric build the ground truth from the dataset (see above).
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'instances'),
    ),
]

# Rare classes: frames are repeated by LVIS-style repeat-factor sampling, r(c) =
# max(1, sqrt(oversample_thr / f(c))) with f(c) the fraction of frames that show class c. SkyWatch's
# meteorite is in about 0.4% of the frames, so 0.1 repeats those frames about 5x (the recipe's
# "meteorite x5") and leaves Plane and WildLife alone.
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='ClassBalancedDataset',
        oversample_thr=0.1,
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            ann_file='annotations/train.json',
            data_prefix=dict(img='images/'),
            filter_cfg=dict(filter_empty_gt=True),
            pipeline=train_pipeline,
            backend_args=backend_args,
        ),
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
        data_root=data_root,
        ann_file='annotations/valid.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args,
    ),
)
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/test.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args,
    ),
)

val_evaluator = dict(type='CocoMetric', ann_file=None, metric='bbox', classwise=True)
test_evaluator = val_evaluator
