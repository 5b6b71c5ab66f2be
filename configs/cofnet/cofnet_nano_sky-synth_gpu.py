# COFNet-nano (the main job's model) on a one-GPU schedule: batch 16, 4000 iterations (64,000
# rendered crops, 16 times the CPU main job).
#   python tools/train.py configs/cofnet/cofnet_nano_sky-synth_gpu.py
_base_ = [
    '../_base_/models/cofnet_nano.py',
    '../_base_/datasets/synthetic_sky.py',
    '../_base_/schedules/gpu_4000it.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=16, num_workers=8)
default_hooks = dict(checkpoint=dict(interval=1000, max_keep_ckpts=2))
