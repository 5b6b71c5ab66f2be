"""Model and input builders shared by the analysis tools (tools/analysis_tools)."""

from .inference import (
    build_detector,
    image_tool_parser,
    load_config,
    load_test_batches,
    print_rows,
    random_batch,
    synchronize,
)

__all__ = [
    'build_detector',
    'image_tool_parser',
    'load_config',
    'load_test_batches',
    'print_rows',
    'random_batch',
    'synchronize',
]
