# The ablation ladder on the hybrid backbone (convs at strides 4 and 8, scans at 16 and 32, as
# configs/cofnet/cofnet_nano-hybrid_halmstad.py): RTMDet's head on MambaBackbone + CSF.
_base_ = './rtmdet_mamba-nano_csf_halmstad.py'

model = dict(backbone=dict(conv_stages=2))
