# The hybrid COFNet-nano with one SSM state per channel (VMamba v2/v3's ``ssm_d_state=1``). The
# exported scans spend their time in elementwise work over [.., d_state] tensors (docs/deploy.md),
# so one state instead of 16 is the lever on ONNX Runtime's latency; what it costs in accuracy
# is measured on halmstad-sky under the equal-time protocol.
_base_ = './cofnet_nano-hybrid_halmstad.py'

model = dict(backbone=dict(d_state=1))
