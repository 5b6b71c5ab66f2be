# The ablation ladder on the hybrid backbone: COFNet-nano-hybrid without diffusion (its stages
# refine the objectness map's peaks once, from a fixed start).
_base_ = './cofnet_nano-hybrid_halmstad.py'

# start_at_peaks (train_cfg.prior_prob) is a diffusion training step: off here.
model = dict(bbox_head=dict(diffusion=False), train_cfg=dict(prior_prob=0.0))
