# halmstad-sky's training videos as unlabelled sky video for self-supervised pretraining (their
# labels are not read), with the pipeline of sky_synth_video.py (frame pairs cropped and flipped
# alike, motion targets). Link the dataset into data/ first:
#   ln -s /path/to/halmstad-sky data/halmstad-sky
_base_ = './sky_synth_video.py'

data_root = 'data/halmstad-sky/'
train_dataloader = dict(
    dataset=dict(synthetic=None, data_root=data_root, video_glob='videos/train/*.mp4')
)
