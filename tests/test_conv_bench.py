"""benchmarks/conv_bench.py loads an earlier conv1d_triton.py beside ours, under its own custom-op namespace."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("triton")
ROOT = Path(__file__).resolve().parents[1]


def test_baseline_module_loads_beside_ours_under_its_own_ops():
    sys.path.insert(0, str(ROOT / "benchmarks"))  # the script imports its sibling kernel_bench.py
    try:
        spec = importlib.util.spec_from_file_location("conv_bench", ROOT / "benchmarks" / "conv_bench.py")
        conv_bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(conv_bench)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    baseline = conv_bench.load_baseline(str(ROOT / "kernels" / "conv1d_triton.py"))
    assert hasattr(torch.ops.tsmamba_baseline, "conv1d_silu_fwd") and hasattr(
        torch.ops.tsmamba_baseline, "conv1d_silu_bwd"
    )
    assert baseline.conv1d_silu_forward is not conv_bench.conv1d_triton.conv1d_silu_forward
    # the renamed module's autograd goes through its own ops, not ours
    assert "torch.ops.tsmamba." not in Path(baseline.__file__).read_text()
