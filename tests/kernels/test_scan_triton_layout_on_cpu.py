"""Runs the sm_90 layout test (test_scan_triton_compiled_layout.py) on CPU machines.

conftest.py turns Triton's interpreter on when there is no GPU, and that file needs Triton's real compiler, so
here it runs in a fresh process without ``TRITON_INTERPRET`` (and without conftest, which would set it again).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LAYOUT_TEST = Path(__file__).with_name("test_scan_triton_compiled_layout.py")


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1", reason="collected directly when not interpreted")
@pytest.mark.slow  # a subprocess, a compile or the interpreter: seconds to a minute on 2 cores
def test_sm90_layout_compiles_in_a_process_without_the_interpreter() -> None:
    pytest.importorskip("triton")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest", "-rs", str(LAYOUT_TEST)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert " passed" in result.stdout, report  # every case skipped would prove nothing
