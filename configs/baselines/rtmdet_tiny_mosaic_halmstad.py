# RTMDet-tiny from scratch on halmstad-sky with COFNet's mosaic recipe
# (configs/_base_/datasets/halmstad_sky_mosaic.py); otherwise rtmdet_tiny_halmstad.py.
_base_ = [
    '../_base_/models/rtmdet_tiny.py',
    '../_base_/datasets/halmstad_sky_mosaic.py',
    '../_base_/schedules/cpu_500it.py',
    '../_base_/default_runtime.py',
]

model = dict(bbox_head=dict(num_classes=4))
