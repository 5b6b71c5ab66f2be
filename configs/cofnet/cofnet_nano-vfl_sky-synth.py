# COFNet-nano with quality-aware classification (the design's option): mmdet's VarifocalLoss, so a
# matched box's class target is its IoU with the object instead of 1 and scores rank the better
# boxes first.
#   python tools/train.py configs/cofnet/cofnet_nano-vfl_sky-synth.py
_base_ = './cofnet_nano_sky-synth.py'

model = dict(
    bbox_head=dict(
        loss_cls=dict(
            _delete_=True,
            type='VarifocalLoss',
            use_sigmoid=True,
            alpha=0.75,
            gamma=2.0,
            iou_weighted=True,
            loss_weight=2.0,
        )
    )
)
