"""MMDeploy rewriters that export COFNet to ONNX.

Imported by the deploy configs (``configs/deploy/``, ``custom_imports``); the model package never
imports mmdeploy.
"""

from . import cofnet_rewriters, mmdet_rewriters, scan_rewriters  # noqa: F401  (registers them)
