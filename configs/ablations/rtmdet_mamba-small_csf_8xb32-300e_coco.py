# CSF-vs-FPN study on COCO (the design's original comparison), CSF arm: the FPN arm with the
# neck replaced and nothing else. Not run here (needs GPUs):
#   bash tools/dist_train.sh configs/ablations/rtmdet_mamba-small_csf_8xb32-300e_coco.py 8
_base_ = './rtmdet_mamba-small_fpn_8xb32-300e_coco.py'

model = dict(
    neck=dict(
        _delete_=True,
        type='ContinuousScaleField',
        in_channels=[128, 256, 512],
        in_strides=[8, 16, 32],
        out_channels=96,
        out_scales=[1 / 3, 2 / 3, 1.0],
        norm_cfg=dict(type='SyncBN'),
        act_cfg=dict(type='SiLU', inplace=True),
    )
)
