# RTMDet's head on MambaBackbone-nano with the Continuous Scale Field read at strides 8, 16, 32:
# the CSF arm of the CSF-vs-FPN study (same backbone, head and training as the FPN arm).
_base_ = './rtmdet_mamba-nano_fpn.py'

model = dict(
    neck=dict(
        _delete_=True,
        type='ContinuousScaleField',
        in_channels=[64, 128, 256],
        in_strides=[8, 16, 32],
        out_channels=96,
        out_scales=[1 / 3, 2 / 3, 1.0],
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='SiLU', inplace=True),
    )
)
