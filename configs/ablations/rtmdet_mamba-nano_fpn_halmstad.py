# CSF-vs-FPN study, FPN arm, on halmstad-sky (real sky videos; train -> val), CPU schedule.
_base_ = [
    '../_base_/models/rtmdet_mamba-nano_fpn.py',
    '../_base_/datasets/halmstad_sky.py',
    '../_base_/schedules/cpu_iters.py',
    '../_base_/default_runtime.py',
]

model = dict(bbox_head=dict(num_classes=4))
