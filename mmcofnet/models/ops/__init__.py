"""Low-level ops: the selective scan (mamba-ssm CUDA | fast CPU | sequential reference)."""

from .selective_scan import selective_scan, selective_scan_backend
from .selective_scan_ref import selective_scan_ref

__all__ = ['selective_scan', 'selective_scan_backend', 'selective_scan_ref']
