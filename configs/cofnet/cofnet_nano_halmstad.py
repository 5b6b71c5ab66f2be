# COFNet-nano on halmstad-sky (real sky videos; convert them first, see
# configs/_base_/datasets/halmstad_sky.py).
_base_ = [
    '../_base_/models/cofnet_nano.py',
    '../_base_/datasets/halmstad_sky.py',
    '../_base_/schedules/cpu_iters.py',
    '../_base_/default_runtime.py',
]

model = dict(bbox_head=dict(num_classes=4))

# The MambaBackbone ablations on halmstad-sky learn at 5e-4 and not at 2e-3 (README, Results).
optim_wrapper = dict(optimizer=dict(lr=5e-4))
