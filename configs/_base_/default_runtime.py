# Runtime shared by every mmcofnet config: mmdet's default runtime plus the package import.
_base_ = ['mmdet::_base_/default_runtime.py']

custom_imports = dict(imports=['mmcofnet'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    # CheckpointHook that writes whole checkpoints or none (a killed run keeps its last good one).
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, interval=500, max_keep_ckpts=2),
    # Warns on each iteration with a NaN or inf loss term; 5 in a row stop the run.
    non_finite_loss=dict(type='NonFiniteLossHook', max_in_a_row=5),
    # Draws from the batch when there is no image file (the synthetic sky is rendered in memory).
    visualization=dict(type='SkyVisualizationHook'),
)
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=False)
