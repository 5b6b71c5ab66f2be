# The baseline at smoke-test size: tiny images, a handful of iterations, no worker processes.
_base_ = '../../../configs/baselines/rtmdet_tiny_sky-synth.py'

img_size = (256, 192)
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(num_images=8, img_size=img_size))
val_dataloader = dict(
    num_workers=0, persistent_workers=False, dataset=dict(num_images=3, img_size=img_size))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=4, val_interval=4)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
# An untrained model scores everything low: keep all boxes so that the metric has results.
model = dict(test_cfg=dict(score_thr=0.0, min_bbox_size=-1))
