# The design's GPU schedule: 50 epochs, AdamW (lr 1e-4 for a total batch of 16), warm-up, steps
# at epochs 40 and 47, validation every 5 epochs.
max_epochs = 50
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='SkipNonFiniteOptimWrapper',  # OptimWrapper that skips the step on a NaN or inf loss
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True),
    clip_grad=dict(max_norm=1.0, norm_type=2),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(
        type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[40, 47], gamma=0.1
    ),
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
