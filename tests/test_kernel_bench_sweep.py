"""benchmarks/kernel_bench.py's sweep: which configs it times, and the KEY=INT settings of the scan backward."""

from __future__ import annotations

import pytest
from benchmark_scripts import load_benchmark

pytest.importorskip("triton")


def test_defaults_only_keeps_the_shipped_configs_and_the_extra_backward_ones():
    kernel_bench = load_benchmark("kernel_bench")
    fwd, bwd = kernel_bench.sweep_configs(True, ["{'maxnreg': 168}", "{'skip': 32, 'maxnreg': 152}"])
    assert fwd == [{}] and bwd == [{}, {"maxnreg": 168}, {"skip": 32, "maxnreg": 152}]
    fwd, bwd = kernel_bench.sweep_configs(False, ["{'min_tiles': 8}"])
    assert fwd[0] == {} and len(fwd) > 1 and bwd[0] == {} and bwd[-1] == {"min_tiles": 8} and len(bwd) > 2
    fwd, bwd = kernel_bench.sweep_configs(True, [], ["{'maxnreg': 128}"])
    assert fwd == [{}, {"maxnreg": 128}] and bwd == [{}]


def test_backward_settings_are_applied_or_named_as_wrong(monkeypatch):
    kernel_bench = load_benchmark("kernel_bench")
    from tsmamba.kernels import scan_triton_bwd

    monkeypatch.setattr(scan_triton_bwd, "BWD_CONFIG", dict(scan_triton_bwd.BWD_CONFIG))
    kernel_bench.apply_scan_config(["maxnreg=168"])
    assert scan_triton_bwd.BWD_CONFIG["maxnreg"] == 168
    with pytest.raises(ValueError, match="'maxnreg=x': expected KEY=INT"):
        kernel_bench.apply_scan_config(["maxnreg=x"])


def test_tsm2_layout_cases_pass_b_c_and_z_as_tsm2_blocks_do():
    import torch

    kernel_bench = load_benchmark("kernel_bench")
    default = kernel_bench.make_case(2, 8, 5, torch.float32, "cpu", True, 0)
    tsm2 = kernel_bench.make_case(2, 8, 5, torch.float32, "cpu", True, 0, tsm2_layout=True)
    n = kernel_bench.N_STATE
    for name in ("B", "C"):
        assert default[name].shape == tsm2[name].shape == (2, n, 5)
        assert default[name].is_contiguous()  # mamba_ssm's layout
        assert tsm2[name].stride() == (5 * (kernel_bench.TSM2_DT_RANK + 2 * n), 1, kernel_bench.TSM2_DT_RANK + 2 * n)
    assert tsm2["z"].shape == (2, 8, 5) and tsm2["z"].stride() == (5 * 16, 1, 16)  # half of a (2, 5, 2 * 8) output
    assert torch.equal(default["u"], tsm2["u"]) and torch.equal(default["delta"], tsm2["delta"])
