"""benchmarks/scan_once.py (a profiler's target) runs the Triton scan's forward and backward at the shape asked."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import torch
from benchmark_scripts import BENCHMARKS, load_benchmark

pytest.importorskip("triton")


def _run(*extra: str) -> subprocess.CompletedProcess:
    """scan_once.py at (2, 32, 20) on the CPU under Triton's interpreter (one call)."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    cmd = [sys.executable, "scan_once.py", "--shape", "2,32,20", "--device", "cpu", "--calls", "1", *extra]
    return subprocess.run(cmd, cwd=BENCHMARKS, env=env, capture_output=True, text=True, timeout=300)


def _scan_once(*extra: str) -> str:
    result = _run(*extra)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow  # a subprocess under Triton's interpreter: ~10 s on 2 cores
def test_scan_once_runs_forward_and_backward_at_the_shape_asked():
    stdout = _scan_once()
    found = re.search(r"at \(2, 32, 20\) fp32, \|du\| = (\S+)", stdout)
    assert found, stdout
    # the same inputs through the torch path give the same input gradient
    kernel_bench = load_benchmark("kernel_bench")
    from tsmamba.kernels import selective_scan

    case = kernel_bench.make_case(2, 32, 20, torch.float32, "cpu", True, 0)
    leaves = {k: v.detach().requires_grad_(True) for k, v in case.items()}
    out = selective_scan(**leaves, delta_softplus=True, backend="torch")
    out.backward(torch.ones_like(out))
    assert float(found.group(1)) == pytest.approx(leaves["u"].grad.abs().sum().item(), rel=1e-4)


@pytest.mark.slow  # a subprocess under Triton's interpreter
def test_scan_once_inference_runs_the_forward_alone():
    stdout = _scan_once("--inference")
    found = re.search(r"1 inference forward calls at \(2, 32, 20\) fp32, \|out\| = (\S+)", stdout)
    assert found, stdout
    kernel_bench = load_benchmark("kernel_bench")
    from tsmamba.kernels import selective_scan

    case = kernel_bench.make_case(2, 32, 20, torch.float32, "cpu", True, 0)
    out = selective_scan(**case, delta_softplus=True, backend="torch")
    assert float(found.group(1)) == pytest.approx(out.abs().sum().item(), rel=1e-4)


@pytest.mark.slow  # subprocesses under Triton's interpreter
def test_scan_once_takes_kernel_configs_and_refuses_bad_ones():
    # 3 tiles in 3 one-tile chunks (the chunked backward) give the gradient of the default (unchunked) launch
    default = re.search(r"\|du\| = (\S+)", _scan_once()).group(1)
    chunked = re.search(r"\|du\| = (\S+)", _scan_once("--scan-config", "min_programs=4096", "min_tiles=1")).group(1)
    assert float(chunked) == pytest.approx(float(default), rel=1e-5)
    bad = _run("--scan-config", "min_tile=1")
    assert bad.returncode != 0 and "expected KEY=INT with KEY one of" in bad.stderr
    cpu_profile = _run("--profile")
    assert cpu_profile.returncode == 2 and "--profile reads the device's kernel times" in cpu_profile.stderr
