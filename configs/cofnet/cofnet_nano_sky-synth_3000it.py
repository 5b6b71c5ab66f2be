# COFNet-nano (the main job's model) on a longer CPU schedule: 3000 iterations of 8 crops (6 times
# the main job; about 80 min on 2 cores), validated every 1000.
#   python tools/train.py configs/cofnet/cofnet_nano_sky-synth_3000it.py
_base_ = './cofnet_nano_sky-synth.py'

max_iters = 3000
val_interval = 1000
base_lr = 2e-3

train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=100),
    dict(
        type='CosineAnnealingLR',
        eta_min=base_lr * 0.05,
        begin=100,
        end=max_iters,
        T_max=max_iters - 100,
        by_epoch=False,
    ),
]
default_hooks = dict(checkpoint=dict(interval=val_interval, max_keep_ckpts=1))
