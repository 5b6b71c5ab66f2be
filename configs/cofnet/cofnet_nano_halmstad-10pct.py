# COFNet-nano from scratch on 10% of halmstad-sky's labelled training videos: the low-label
# arm of the self-supervised pretraining study (docs/ssl.md). Make the subset first:
#   python tools/dataset_converters/video_subset.py data/halmstad-sky-coco/annotations/train.json \
#       data/halmstad-sky-coco/annotations/train_10pct.json --fraction 0.1 --seed 0
_base_ = './cofnet_nano_halmstad.py'

train_dataloader = dict(dataset=dict(ann_file='annotations/train_10pct.json'))
