"""Runs the fused-convolution and model fast-path cases: natively with CUDA, else in Triton's CPU interpreter.

As for the scan (test_selective_scan_triton.py), the interpreter has to be chosen before Triton decorates the
kernels, so on CPU the cases run in a fresh process with TRITON_INTERPRET=1 set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent
CASES = [HERE / "conv1d_triton_cases.py", HERE / "model_fast_path_cases.py"]

if torch.cuda.is_available():
    from conv1d_triton_cases import *  # noqa: F401,F403
    from model_fast_path_cases import *  # noqa: F401,F403
else:

    @pytest.mark.slow  # a subprocess, a compile or the interpreter: seconds to a minute on 2 cores
    def test_fused_kernels_and_model_fast_path_in_cpu_interpreter():
        env = {**os.environ, "TRITON_INTERPRET": "1"}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *map(str, CASES)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            cwd=HERE,
        )
        report = result.stdout[-20000:] + result.stderr[-5000:]
        assert result.returncode == 0, f"Triton interpreter cases failed:\n{report}"
        assert " passed" in report and "skipped" not in report, report
