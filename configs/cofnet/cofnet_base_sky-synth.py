# COFNet-base on the embedded synthetic sky with the design's GPU schedule (epochs of 2000
# rendered frames).
_base_ = [
    '../_base_/models/cofnet_base.py',
    '../_base_/datasets/synthetic_sky.py',
    '../_base_/schedules/adamw_50e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(sampler=dict(type='DefaultSampler', shuffle=True))
default_hooks = dict(checkpoint=dict(by_epoch=True, interval=5, max_keep_ckpts=3))
log_processor = dict(by_epoch=True)
