# COFNet-nano (the main job's model) on a one-GPU schedule: batch 16, 4000 iterations (64,000
# rendered crops, 16 times the CPU main job).
#   python tools/train.py configs/cofnet/cofnet_nano_sky-synth_gpu.py
_base_ = './cofnet_nano_sky-synth.py'

max_iters = 4000
val_interval = 1000
base_lr = 2e-3

train_dataloader = dict(batch_size=16, num_workers=8)
train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=200),
    dict(
        type='CosineAnnealingLR',
        eta_min=base_lr * 0.05,
        begin=200,
        end=max_iters,
        T_max=max_iters - 200,
        by_epoch=False,
    ),
]
default_hooks = dict(checkpoint=dict(interval=val_interval, max_keep_ckpts=2))
