"""benchmarks/scan_stage_probe.py writes a kernels/ copy whose switches do what they say: bit 32 (a real variant)
keeps every gradient, a left-out stage changes them; with no bit set the copy is the shipped backward."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from benchmark_scripts import BENCHMARKS, load_benchmark

pytest.importorskip("triton")

CHECK = """
import json, sys, torch
sys.path.insert(0, sys.argv[1])
import kernel_bench
from tsmamba.kernels import scan_triton_bwd, selective_scan
assert scan_triton_bwd.__file__.startswith(sys.argv[2]), scan_triton_bwd.__file__
case = kernel_bench.make_case(2, 32, 40, torch.float32, "cpu", True, 0)
def grads(backend):
    leaves = {k: v.detach().requires_grad_(True) for k, v in case.items()}
    out = selective_scan(**leaves, delta_softplus=True, backend=backend)
    out.backward(torch.ones_like(out))
    return {k: v.grad for k, v in leaves.items()}
ref = grads("torch")
worst = {}
for skip in (0, 32, 1):
    scan_triton_bwd.BWD_CONFIG["skip"] = skip
    got = grads("triton")
    worst[skip] = max(float(((got[k] - ref[k]).abs().max() / ref[k].abs().max()).nan_to_num(1e9)) for k in ref)
print(json.dumps(worst))
"""


@pytest.mark.slow  # a subprocess under Triton's interpreter: ~30 s on 2 cores
def test_probe_copy_keeps_gradients_for_the_variant_and_changes_them_for_a_left_out_stage(tmp_path: Path):
    probe = load_benchmark("scan_stage_probe")
    kernels = probe.write_probe(tmp_path / "tsmamba" / "kernels")
    (tmp_path / "tsmamba" / "__init__.py").write_text("")
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(tmp_path)}
    cmd = [sys.executable, "-c", CHECK, str(BENCHMARKS), str(kernels)]
    # cwd: not the repository root, whose tsmamba/ would shadow the copy (python -c puts the cwd on sys.path)
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    worst = json.loads(result.stdout.strip().splitlines()[-1])
    assert worst["0"] < 1e-4 and worst["32"] < 1e-4, worst
    assert worst["1"] > 1e-2, worst  # the recompute left out: the gradients are wrong, as documented


def test_probe_refuses_a_kernel_its_edits_do_not_fit(tmp_path: Path, monkeypatch):
    probe = load_benchmark("scan_stage_probe")
    fake = tmp_path / "kernels"
    fake.mkdir()
    (fake / "scan_triton_bwd.py").write_text("BWD_CONFIG = {}\n")
    monkeypatch.setattr(probe, "KERNELS", fake)
    with pytest.raises(RuntimeError, match="scan_triton_bwd.py changed"):
        probe.write_probe(tmp_path / "out")
