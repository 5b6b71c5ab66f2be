# COFNet-nano sampling in 4 DDIM steps instead of 1 (a test-time switch: it evaluates the
# checkpoints of cofnet_nano_sky-synth.py; the same as --cfg-options model.test_cfg.sampling_steps=4).
_base_ = './cofnet_nano_sky-synth.py'

model = dict(test_cfg=dict(sampling_steps=4))
