"""benchmarks/conv_bench.py loads an earlier conv1d_triton.py beside ours, under its own custom-op namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from benchmark_scripts import load_benchmark

pytest.importorskip("triton")
ROOT = Path(__file__).resolve().parents[1]


def test_baseline_module_loads_beside_ours_under_its_own_ops():
    conv_bench = load_benchmark("conv_bench")  # it imports its sibling kernel_bench.py
    baseline = conv_bench.load_baseline(str(ROOT / "kernels" / "conv1d_triton.py"))
    assert hasattr(torch.ops.tsmamba_baseline, "conv1d_silu_fwd") and hasattr(
        torch.ops.tsmamba_baseline, "conv1d_silu_bwd"
    )
    assert baseline.conv1d_silu_forward is not conv_bench.conv1d_triton.conv1d_silu_forward
    # the renamed module's autograd goes through its own ops, not ours
    assert "torch.ops.tsmamba." not in Path(baseline.__file__).read_text()


def test_byte_floor_is_in_milliseconds_of_bytes_per_second():
    conv_bench = load_benchmark("conv_bench")
    # 1e6 fp32 elements = 4 MB per tensor; at 4 TB/s two tensors take 2 us, five 5 us
    fwd, fwd_bwd = conv_bench.floor_ms(1000, 100, 10, 4e12)
    assert fwd == pytest.approx(0.002) and fwd_bwd == pytest.approx(0.005)
