# COFNet-nano on the synthetic sky (the main job), starting from the self-supervised pretraining
# on rendered sky video (configs/cofnet/cofnet_nano_ssl-pretrain_sky-synth-video.py): the
# backbone, field and objectness map load from its pretrained.pth.
#   python tools/train.py configs/cofnet/cofnet_nano_ssl-pretrain_sky-synth-video.py
#   python tools/train.py configs/cofnet/cofnet_nano_ssl-finetune_sky-synth.py
_base_ = './cofnet_nano_sky-synth.py'

load_from = 'work_dirs/cofnet_nano_ssl-pretrain_sky-synth-video/pretrained.pth'
