# Self-supervised pretraining of COFNet-nano's backbone, field and objectness map on unlabelled sky
# video rendered on the fly (the embedded default; no files needed): the map learns where things
# move against the sky (MotionSegmentationLoss) and to agree with itself across frames moved by
# the optical flow (TemporalConsistencyLoss). Writes work_dirs/<config>/pretrained.pth, which
# configs/cofnet/cofnet_nano_ssl-finetune_sky-synth.py loads.
#   python tools/train.py configs/cofnet/cofnet_nano_ssl-pretrain_sky-synth-video.py
_base_ = [
    '../_base_/models/cofnet_nano_ssl.py',
    '../_base_/datasets/sky_synth_video.py',
    '../_base_/schedules/ssl_cpu_500it.py',
    '../_base_/default_runtime.py',
]
