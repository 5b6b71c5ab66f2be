# CSF-vs-FPN study, FPN arm, on the embedded synthetic sky data (CPU schedule).
_base_ = [
    '../_base_/models/rtmdet_mamba-nano_fpn.py',
    '../_base_/datasets/synthetic_sky.py',
    '../_base_/schedules/cpu_500it.py',
    '../_base_/default_runtime.py',
]
