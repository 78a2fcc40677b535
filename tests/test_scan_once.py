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


def _scan_once(*extra: str) -> str:
    """stdout of scan_once.py at (2, 32, 20) on the CPU under Triton's interpreter (one call)."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    cmd = [sys.executable, "scan_once.py", "--shape", "2,32,20", "--device", "cpu", "--calls", "1", *extra]
    result = subprocess.run(cmd, cwd=BENCHMARKS, env=env, capture_output=True, text=True, timeout=300)
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
