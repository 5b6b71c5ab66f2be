# RTMDet's head on MambaBackbone-nano with mmdet's FPN (strides 8, 16, 32): the FPN arm of the
# CSF-vs-FPN study. The CSF arm replaces the neck and nothing else.
_base_ = './rtmdet_tiny.py'

model = dict(
    backbone=dict(
        _delete_=True, type='MambaBackbone', arch='nano', out_indices=(1, 2, 3), drop_path_rate=0.1
    ),
    neck=dict(
        _delete_=True,
        type='FPN',
        in_channels=[64, 128, 256],
        out_channels=96,
        num_outs=3,
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='SiLU', inplace=True),
    ),
)
