# COFNet-nano (the main job's model) on a longer CPU schedule: 3000 iterations of 8 crops (6 times
# the main job; about 80 min on 2 cores), validated every 1000.
#   python tools/train.py configs/cofnet/cofnet_nano_sky-synth_3000it.py
_base_ = [
    '../_base_/models/cofnet_nano.py',
    '../_base_/datasets/synthetic_sky.py',
    '../_base_/schedules/cpu_3000it.py',
    '../_base_/default_runtime.py',
]

default_hooks = dict(checkpoint=dict(interval=1000, max_keep_ckpts=1))
