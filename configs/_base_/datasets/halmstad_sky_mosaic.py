# halmstad-sky with mosaic training samples: four crops of 320x256, each around an object of a
# randomly drawn frame (so, almost always, of four different videos), tile one 640x512 sample.
# Why (docs/halmstad_study.md): every training video holds one class, so a crop's scene tells its
# class and a model with global context learns the scene instead of the object; and the test
# frames are 640x512, while a 320x320 crop is a third of the sequence a selective scan runs over
# at test time. A mosaic has four scenes and often several classes, and is a test frame in size.
# Validation and test are the base file's (full frames).
_base_ = './halmstad_sky.py'

sub_crop = (320, 256)  # (width, height): 2 x 2 of them is a 640x512 frame
train_pipeline = [
    # center_ratio_range=(1, 1): the four crops tile the frame exactly, no padding (a constant
    # pad reads as a bright edge on the sky).
    dict(type='Mosaic', img_scale=sub_crop, center_ratio_range=(1.0, 1.0), prob=1.0),
    # Horizontal only: the camera looks up, so ground and treetops stay at the bottom.
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    batch_size=2,  # 2 mosaics = 8 crops of 320x256 per step
    dataset=dict(
        _delete_=True,
        type='MultiImageMixDataset',
        dataset=dict(
            type={{_base_.dataset_type}},
            metainfo={{_base_.metainfo}},
            data_root={{_base_.data_root}},
            ann_file='annotations/train.json',
            data_prefix=dict(img='images/'),
            filter_cfg=dict(filter_empty_gt=True),
            pipeline=[
                dict(
                    type='LoadCheckedImageFromFile',
                    skip_corrupt=True,
                    backend_args={{_base_.backend_args}},
                ),
                dict(type='LoadAnnotations', with_bbox=True),
                dict(type='SmallObjectCrop', crop_size=sub_crop, object_prob=0.8),
            ],
            backend_args={{_base_.backend_args}},
        ),
        pipeline=train_pipeline,
    ),
)
