"""Selective-scan kernels (Mamba-1 S6): Triton for CUDA, a fast PyTorch path for CPU.

Imported as ``tsmamba.kernels``.
"""
