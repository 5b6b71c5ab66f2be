# COFNet-nano with a hybrid backbone on halmstad-sky: the first two stages (strides 4 and 8) mix
# tokens with separable convs (MetaFormer's ConvFormer block), the last two with selective scans,
# as MambaVision splits them. The scans cost most on the largest maps, where the features of
# objects a few pixels wide are local anyway; the global mixing stays at strides 16 and 32.
_base_ = './cofnet_nano_halmstad.py'

model = dict(backbone=dict(conv_stages=2))
