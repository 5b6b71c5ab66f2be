# MMDeploy: ONNX Runtime, a static 640x512 input (halmstad-sky's frames), image -> dets, labels.
#   python tools/deployment/deploy.py MODEL_CFG CKPT --deploy-cfg THIS_FILE --work-dir DIR
# mmdeploy's own configs (configs/mmdet/detection/detection_onnxruntime_static.py) are not in its
# wheel; this is the same config with the input size fixed and COFNet's rewriters imported.
custom_imports = dict(imports=['mmcofnet.deploy'], allow_failed_imports=False)

onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=13,  # aten::unflatten (the chunked scan) needs 13
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['dets', 'labels'],
    input_shape=[640, 512],  # width, height
    optimize=True,
)
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='end2end',
    post_processing=dict(
        score_threshold=0.05,
        confidence_threshold=0.005,
        iou_threshold=0.5,
        max_output_boxes_per_class=200,
        pre_top_k=5000,
        keep_top_k=100,
        background_label_id=-1,
    ),
)
backend_config = dict(type='onnxruntime')
