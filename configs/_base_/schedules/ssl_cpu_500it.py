# The CPU schedule of cpu_500it.py for self-supervised pretraining: no labels, so no validation
# or test loop; the temporal-consistency loss warms up once the motion loss has shaped the map,
# and the backbone + field + objectness-map weights are written at every checkpoint.
_base_ = './cpu_500it.py'

val_cfg = None
test_cfg = None
custom_hooks = [
    # Temporal consistency off before iteration 100, then a linear ramp to its weight at 200.
    dict(type='SSLLossWeightHook', schedule=dict(temporal=dict(start=100, end=200, value=1.0))),
    dict(type='PretrainedWeightsHook', out='pretrained.pth'),
]
