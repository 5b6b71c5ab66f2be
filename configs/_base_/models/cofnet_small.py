# COFNet-small: MambaBackbone-small, a 128-channel field from strides 4-32, the design's small
# denoiser (192-dim, 4 stages).
_base_ = './cofnet_nano.py'

model = dict(
    backbone=dict(arch='small', out_indices=(0, 1, 2, 3), drop_path_rate=0.2),
    neck=dict(
        in_channels=[64, 128, 256, 512],
        in_strides=[4, 8, 16, 32],
        out_channels=128,
        out_scales=[0.0, 1 / 3, 2 / 3, 1.0],
    ),
    bbox_head=dict(
        feat_channels=128,
        embed_dims=192,
        num_heads=6,
        num_stages=4,
        ffn_dims=1024,
        num_proposals=200,
    ),
)
