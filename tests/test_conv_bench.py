"""benchmarks/conv_bench.py loads an earlier conv1d_triton.py beside ours, under its own custom-op namespace."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

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


def test_first_pass_configs_override_dpre_config_and_name_bad_keys():
    conv_bench = load_benchmark("conv_bench")
    before = dict(conv_bench.conv1d_triton.DPRE_CONFIG)
    config = conv_bench.parse_config("block_r=32,num_warps=16")
    assert config == {**before, "block_r": 32, "num_warps": 16}
    assert conv_bench.conv1d_triton.DPRE_CONFIG == before  # the module's own config is left alone
    with pytest.raises(ValueError, match="block_r"):
        conv_bench.parse_config("rows=32")


def test_floor_counts_16_bit_activations_at_two_bytes():
    conv_bench = load_benchmark("conv_bench")
    assert conv_bench.floor_ms(1000, 100, 10, 4e12, 2) == pytest.approx((0.001, 0.0025))


def test_a_first_pass_config_holds_during_the_backward_only():
    conv_bench = load_benchmark("conv_bench")
    seen = []
    module = SimpleNamespace(
        DPRE_CONFIG={"block_r": 64, "num_warps": 8},
        conv1d_silu_forward=lambda *a: seen.append(("fwd", dict(module.DPRE_CONFIG))),
        conv1d_silu_backward=lambda *a: seen.append(("bwd", dict(module.DPRE_CONFIG))),
    )
    _, fwd_bwd = conv_bench.kernels_of(module, {"block_r": 16, "num_warps": 4})
    fwd_bwd({"x": None, "w": None, "b": None, "g": None})
    assert seen == [("fwd", {"block_r": 64, "num_warps": 8}), ("bwd", {"block_r": 16, "num_warps": 4})]
    assert module.DPRE_CONFIG == {"block_r": 64, "num_warps": 8}


def test_several_baselines_load_under_their_own_ops_each_with_its_first_pass_config(monkeypatch):
    conv_bench = load_benchmark("conv_bench")
    seen = []
    monkeypatch.setattr(conv_bench, "kernels_of", lambda module, dpre=None: seen.append((module, dpre)) or len(seen))
    ours = str(ROOT / "kernels" / "conv1d_triton.py")
    impls = conv_bench.baseline_impls([ours, f"{ours}@block_r=32,fold=0"])
    assert impls == {"baseline": 1, "baseline2": 2}
    assert hasattr(torch.ops.tsmamba_baseline2, "conv1d_silu_bwd")
    (first, none), (second, dpre) = seen
    assert none is None and first is not second and second.__name__ == "conv1d_triton_baseline2"
    assert dpre == {**second.DPRE_CONFIG, "block_r": 32, "fold": 0}
    with pytest.raises(ValueError, match="block_r"):
        conv_bench.baseline_impls([f"{ours}@rows=32"])
