# RTMDet-tiny from scratch on the embedded synthetic sky data: the baseline of every comparison.
#   python tools/train.py configs/baselines/rtmdet_tiny_sky-synth.py
_base_ = [
    '../_base_/models/rtmdet_tiny.py',
    '../_base_/datasets/synthetic_sky.py',
    '../_base_/schedules/cpu_500it.py',
    '../_base_/default_runtime.py',
]
