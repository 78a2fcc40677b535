"""Selective-scan kernels (Mamba-1 S6): Triton for CUDA, a fast PyTorch path for CPU.

Imported as ``tsmamba.kernels``. ``selective_scan`` is the one entry point; ``selective_scan_loop`` is the
float64 sequential ground truth used by the tests.
"""

from .reference import selective_scan_dense, selective_scan_loop
from .selective_scan import BACKENDS, selective_scan

__all__ = ["BACKENDS", "selective_scan", "selective_scan_dense", "selective_scan_loop"]
