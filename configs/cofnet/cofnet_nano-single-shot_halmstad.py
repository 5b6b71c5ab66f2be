# The single-shot variant of COFNet-nano on halmstad-sky (the diffusion study's other arm).
_base_ = './cofnet_nano_halmstad.py'

model = dict(bbox_head=dict(diffusion=False))
