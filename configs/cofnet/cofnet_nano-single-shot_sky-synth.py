# The single-shot variant of COFNet-nano (learned proposals, one pass, no diffusion), same data
# and budget: the other arm of the diffusion study.
_base_ = './cofnet_nano_sky-synth.py'

model = dict(bbox_head=dict(diffusion=False))
