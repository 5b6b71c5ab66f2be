# COFNet-nano (the main job's model) on a longer CPU schedule: 3000 iterations of 8 crops (6 times
# the main job; about 80 min on 2 cores), validated every 1000. The warm-up and cosine of
# cpu_iters.py follow max_iters.
#   python tools/train.py configs/cofnet/cofnet_nano_sky-synth_3000it.py
_base_ = './cofnet_nano_sky-synth.py'

train_cfg = dict(max_iters=3000, val_interval=1000)
default_hooks = dict(checkpoint=dict(interval=1000, max_keep_ckpts=1))
