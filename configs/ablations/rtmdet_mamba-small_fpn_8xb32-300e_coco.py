# CSF-vs-FPN study on COCO (the design's original comparison), FPN arm: mmdet's RTMDet-tiny
# recipe (8 GPUs x 32 images, 300 epochs) with MambaBackbone-small. Not run here (needs GPUs):
#   bash tools/dist_train.sh configs/ablations/rtmdet_mamba-small_fpn_8xb32-300e_coco.py 8
_base_ = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'

custom_imports = dict(imports=['mmcofnet'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True, type='MambaBackbone', arch='small', out_indices=(1, 2, 3), drop_path_rate=0.2
    ),
    neck=dict(
        _delete_=True,
        type='FPN',
        in_channels=[128, 256, 512],
        out_channels=96,
        num_outs=3,
        norm_cfg=dict(type='SyncBN'),
        act_cfg=dict(type='SiLU', inplace=True),
    ),
)

# mmdet's CocoDataset with its boxes validated at loading (clipped, degenerate ones dropped, logged).
train_dataloader = dict(dataset=dict(type='SkyCocoDataset'))
val_dataloader = dict(dataset=dict(type='SkyCocoDataset'))
test_dataloader = dict(dataset=dict(type='SkyCocoDataset'))
