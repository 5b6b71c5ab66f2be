# COFNet-base: MambaBackbone-base, a 256-channel field from strides 4-32, the design's base
# denoiser (256-dim, 8 heads, 6 stages, 300 boxes).
_base_ = './cofnet_nano.py'

model = dict(
    backbone=dict(arch='base', out_indices=(0, 1, 2, 3), drop_path_rate=0.3),
    neck=dict(
        in_channels=[96, 192, 384, 768],
        in_strides=[4, 8, 16, 32],
        out_channels=256,
        out_scales=[0.0, 1 / 3, 2 / 3, 1.0],
    ),
    bbox_head=dict(
        feat_channels=256,
        embed_dims=256,
        num_heads=8,
        num_stages=6,
        ffn_dims=2048,
        num_proposals=300,
    ),
)
