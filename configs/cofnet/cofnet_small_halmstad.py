# COFNet-small on halmstad-sky.
_base_ = [
    '../_base_/models/cofnet_small.py',
    '../_base_/datasets/halmstad_sky.py',
    '../_base_/schedules/cpu_500it.py',
    '../_base_/default_runtime.py',
]

model = dict(
    bbox_head=dict(num_classes=4), train_cfg=dict(prior_prob=0.5)
)  # as cofnet_nano_halmstad.py

# The MambaBackbone ablations on halmstad-sky learn at 5e-4 and not at 2e-3 (README, Results).
optim_wrapper = dict(optimizer=dict(lr=5e-4))
