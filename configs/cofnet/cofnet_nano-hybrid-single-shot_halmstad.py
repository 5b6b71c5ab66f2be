# The ablation ladder on the hybrid backbone (convs at strides 4 and 8, scans at 16 and 32, as
# ./cofnet_nano-hybrid_halmstad.py): COFNet-nano single-shot, no diffusion.
_base_ = './cofnet_nano-single-shot_halmstad.py'

model = dict(backbone=dict(conv_stages=2))
