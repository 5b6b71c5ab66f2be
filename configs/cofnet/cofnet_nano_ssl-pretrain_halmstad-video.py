# Self-supervised pretraining of COFNet-nano's backbone, field and objectness map on halmstad-sky's
# training videos, their labels unread (link the data first, see
# configs/_base_/datasets/halmstad_video.py). Writes work_dirs/<config>/pretrained.pth, which
# configs/cofnet/cofnet_nano_ssl-finetune_halmstad.py loads.
#   python tools/train.py configs/cofnet/cofnet_nano_ssl-pretrain_halmstad-video.py
_base_ = [
    '../_base_/models/cofnet_nano_ssl.py',
    '../_base_/datasets/halmstad_video.py',
    '../_base_/schedules/ssl_cpu_500it.py',
    '../_base_/default_runtime.py',
]

# halmstad-sky's four classes, so that the map's weights load into COFNet-nano on halmstad-sky.
model = dict(objectness=dict(num_classes=4))
# The lr of the supervised halmstad-sky configs (the MambaBackbone does not learn at 2e-3 there).
optim_wrapper = dict(optimizer=dict(lr=5e-4))
