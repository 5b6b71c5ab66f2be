# COFNet-base on SkyWatch (data/skywatch/, see configs/_base_/datasets/skywatch.py) with the
# design's schedule, for GPUs: 2 GPUs x 8 images, 50 epochs.
#   bash tools/dist_train.sh configs/cofnet/cofnet_skywatch.py 2
_base_ = [
    '../_base_/models/cofnet_base.py',
    '../_base_/datasets/skywatch.py',
    '../_base_/schedules/adamw_50e.py',
    '../_base_/default_runtime.py',
]

default_hooks = dict(checkpoint=dict(by_epoch=True, interval=5, max_keep_ckpts=3))
log_processor = dict(by_epoch=True)
