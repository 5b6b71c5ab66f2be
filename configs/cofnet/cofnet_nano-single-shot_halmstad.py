# The single-shot variant of COFNet-nano on halmstad-sky (the diffusion study's other arm).
_base_ = './cofnet_nano_halmstad.py'

# start_at_peaks (train_cfg.prior_prob) is a diffusion training step: off here.
model = dict(bbox_head=dict(diffusion=False), train_cfg=dict(prior_prob=0.0))
