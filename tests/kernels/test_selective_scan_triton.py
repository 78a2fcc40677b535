"""Runs the Triton selective-scan cases: natively with CUDA, else in Triton's CPU interpreter (subprocess).

Triton chooses interpreter or compiler when it is imported and when a kernel is decorated, and other test
modules import Triton early, so on CPU the cases run in a fresh interpreter process with TRITON_INTERPRET=1;
the variable never reaches other tests. The subprocess's pytest report is shown when a case fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

CASES = Path(__file__).with_name("selective_scan_triton_cases.py")

if torch.cuda.is_available():
    from selective_scan_triton_cases import *  # noqa: F401,F403
else:

    def test_triton_kernels_in_cpu_interpreter():
        env = {**os.environ, "TRITON_INTERPRET": "1"}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CASES)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            cwd=CASES.parent,
        )
        report = result.stdout[-20000:] + result.stderr[-5000:]
        assert result.returncode == 0, f"Triton interpreter cases failed:\n{report}"
        assert " passed" in report and "skipped" not in report, report
