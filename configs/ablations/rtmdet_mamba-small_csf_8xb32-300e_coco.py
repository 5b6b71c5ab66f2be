# CSF-vs-FPN study on COCO (the design's original comparison), CSF arm: mmdet's RTMDet-tiny
# recipe (8 GPUs x 32 images, 300 epochs) with MambaBackbone-small. Not run here (needs GPUs):
#   bash tools/dist_train.sh configs/ablations/rtmdet_mamba-small_csf_8xb32-300e_coco.py 8
_base_ = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'

custom_imports = dict(imports=['mmcofnet'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True, type='MambaBackbone', arch='small', out_indices=(1, 2, 3),
        drop_path_rate=0.2),
    neck=dict(
        _delete_=True,
        type='ContinuousScaleField',
        in_channels=[128, 256, 512],
        in_strides=[8, 16, 32],
        out_channels=96,
        out_scales=[1 / 3, 2 / 3, 1.0],
        norm_cfg=dict(type='SyncBN'),
        act_cfg=dict(type='SiLU', inplace=True)))
