# COFNet-nano on halmstad-sky, starting from the self-supervised pretraining on its videos
# (configs/cofnet/cofnet_nano_ssl-pretrain_halmstad-video.py): the backbone, field and objectness
# map load from its pretrained.pth, the denoiser's stages start from scratch.
#   python tools/train.py configs/cofnet/cofnet_nano_ssl-pretrain_halmstad-video.py
#   python tools/train.py configs/cofnet/cofnet_nano_ssl-finetune_halmstad.py
_base_ = './cofnet_nano_halmstad.py'

load_from = 'work_dirs/cofnet_nano_ssl-pretrain_halmstad-video/pretrained.pth'
