# MMDeploy: ONNX Runtime, any input size (a multiple of the model's pad_size_divisor), any batch.
#   python tools/deployment/deploy.py MODEL_CFG CKPT --deploy-cfg THIS_FILE --work-dir DIR
# mmdeploy's configs/mmdet/detection/detection_onnxruntime_dynamic.py with COFNet's rewriters.
_base_ = ['./detection_onnxruntime_static-640x512.py']

onnx_config = dict(
    input_shape=None,
    dynamic_axes=dict(
        input={0: 'batch', 2: 'height', 3: 'width'},
        dets={0: 'batch', 1: 'num_dets'},
        labels={0: 'batch', 1: 'num_dets'},
    ),
)
