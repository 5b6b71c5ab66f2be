# COFNet-nano fine-tuned from the halmstad-sky video pretraining on 10% of the labelled training
# videos (the subset of cofnet_nano_halmstad-10pct.py): the study's pretrained low-label arm.
_base_ = './cofnet_nano_halmstad-10pct.py'

load_from = 'work_dirs/cofnet_nano_ssl-pretrain_halmstad-video/pretrained.pth'
