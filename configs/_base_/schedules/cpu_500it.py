# A short iteration-based schedule that fits a CPU: AdamW, linear warm-up, cosine decay.
max_iters = 500
val_interval = 500
base_lr = 2e-3

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='SkipNonFiniteOptimWrapper',  # OptimWrapper that skips the step on a NaN or inf loss
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True),
    clip_grad=dict(max_norm=10.0, norm_type=2),
)
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
