# CSF-vs-FPN study, CSF arm, on halmstad-sky (real sky videos; train -> val), CPU schedule.
_base_ = [
    '../_base_/models/rtmdet_mamba-nano_csf.py',
    '../_base_/datasets/halmstad_sky.py',
    '../_base_/schedules/cpu_iters.py',
    '../_base_/default_runtime.py',
]

model = dict(bbox_head=dict(num_classes=4))
