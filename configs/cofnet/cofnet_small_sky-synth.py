# COFNet-small on the embedded synthetic sky (CPU schedule; a GPU trains it far longer).
_base_ = [
    '../_base_/models/cofnet_small.py',
    '../_base_/datasets/synthetic_sky.py',
    '../_base_/schedules/cpu_500it.py',
    '../_base_/default_runtime.py',
]
