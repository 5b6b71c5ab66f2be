# COFNet-nano on halmstad-sky, trained on mosaics of four crops from different videos
# (configs/_base_/datasets/halmstad_sky_mosaic.py); otherwise configs/cofnet/cofnet_nano_halmstad.py.
_base_ = [
    '../_base_/models/cofnet_nano.py',
    '../_base_/datasets/halmstad_sky_mosaic.py',
    '../_base_/schedules/cpu_500it.py',
    '../_base_/default_runtime.py',
]

model = dict(bbox_head=dict(num_classes=4), train_cfg=dict(prior_prob=0.5))

# The MambaBackbone ablations on halmstad-sky learn at 5e-4 and not at 2e-3.
optim_wrapper = dict(optimizer=dict(lr=5e-4))
