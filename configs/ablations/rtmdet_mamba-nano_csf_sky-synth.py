# CSF-vs-FPN study, CSF arm, on the embedded synthetic sky data (CPU schedule).
_base_ = [
    '../_base_/models/rtmdet_mamba-nano_csf.py',
    '../_base_/datasets/synthetic_sky.py',
    '../_base_/schedules/cpu_500it.py',
    '../_base_/default_runtime.py',
]
