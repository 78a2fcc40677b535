"""Runs the Triton selective-scan cases: natively with CUDA, else in Triton's CPU interpreter.

On a machine without CUDA, tests/conftest.py sets TRITON_INTERPRET=1 before any Triton kernel is decorated, so
every case below is its own test item in this process (one failure does not hide the others). Skipped where
Triton is not installed (``pip install -e ".[test]"`` brings it on Linux).
"""

from __future__ import annotations

import pytest

pytest.importorskip("triton", reason="Triton is not installed: pip install -e '.[test]' (Linux) runs these cases")

from selective_scan_triton_cases import *  # noqa: E402,F401,F403
