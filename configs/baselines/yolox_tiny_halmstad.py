# YOLOX-tiny from scratch on halmstad-sky (real sky videos; train -> val), CPU schedule: the
# design's second baseline beside RTMDet-tiny. Convert the data first (see
# configs/_base_/datasets/halmstad_sky.py), then:
#   python tools/train.py configs/baselines/yolox_tiny_halmstad.py
_base_ = [
    '../_base_/models/yolox_tiny.py',
    '../_base_/datasets/halmstad_sky.py',
    '../_base_/schedules/cpu_500it.py',
    '../_base_/default_runtime.py',
]

model = dict(bbox_head=dict(num_classes=4))
