# COFNet-nano on the embedded synthetic sky (no files needed): the README's main job.
#   python tools/train.py configs/cofnet/cofnet_nano_sky-synth.py
_base_ = [
    '../_base_/models/cofnet_nano.py',
    '../_base_/datasets/synthetic_sky.py',
    '../_base_/schedules/cpu_500it.py',
    '../_base_/default_runtime.py',
]
