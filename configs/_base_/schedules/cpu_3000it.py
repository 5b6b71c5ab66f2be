# The CPU schedule of cpu_500it.py, six times longer: 3000 iterations, a validation every 1000.
_base_ = './cpu_500it.py'

max_iters = 3000
val_interval = 1000
warmup = 100
base_lr = 2e-3

train_cfg = dict(max_iters=max_iters, val_interval=val_interval)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup),
    dict(
        type='CosineAnnealingLR',
        eta_min=base_lr * 0.05,
        begin=warmup,
        end=max_iters,
        T_max=max_iters - warmup,
        by_epoch=False,
    ),
]
