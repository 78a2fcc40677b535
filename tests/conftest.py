"""Shared fixtures: where the real benchmark CSVs are (if anywhere) and small synthetic series."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

# Without CUDA, the Triton kernel cases (tests/kernels/) run in Triton's CPU interpreter. Triton reads
# TRITON_INTERPRET when a kernel is decorated, i.e. when tsmamba.kernels.scan_triton_fwd is first imported,
# which no module does before the kernel tests; setting it here lets each case be its own test item.
if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"

from tsmamba.data.synthetic import synthetic_series  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# In the interpreter a Triton case takes one to tens of seconds, so all but these are `slow` there (CI still runs
# them all; on a GPU none is slow): one forward + backward per backward variant on a short odd length, the check
# that the interpreter is in use, and the error for an unknown variant. New cases are slow until listed here.
FAST_INTERPRETED_TRITON_CASES = {
    "test_kernels_run_interpreted_on_cpu_only",
    "test_matches_reference_over_lengths[7-loop]",
    "test_matches_reference_over_lengths[7-tile_reduce]",
    "test_unknown_backward_variant_is_an_error",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("TRITON_INTERPRET") != "1":
        return
    for item in items:
        if item.path.name == "test_selective_scan_triton.py" and item.name not in FAST_INTERPRETED_TRITON_CASES:
            item.add_marker(pytest.mark.slow)


def _find_data_dir() -> Path | None:
    env = os.environ.get("TSMAMBA_DATA_DIR")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "datasets"]:
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Folder holding the real benchmark CSVs ($TSMAMBA_DATA_DIR or ../shared/datasets); skips when absent."""
    found = _find_data_dir()
    if found is None:
        pytest.skip("real benchmark CSVs not available: set TSMAMBA_DATA_DIR to the folder holding ETTh1.csv etc.")
    return found


@pytest.fixture
def require_file(data_dir: Path):
    """Call with a file name; skips the test when that CSV is not in the data folder."""

    def check(name: str) -> Path:
        path = data_dir / name
        if not path.is_file():
            pytest.skip(f"{name} not found in {data_dir}")
        return path

    return check


@pytest.fixture
def standardised_series() -> np.ndarray:
    """A (600, 3) synthetic seasonal series standardised on its first 400 rows."""
    values = synthetic_series(600, 3, period=24, seed=1)
    return (values - values[:400].mean(0)) / values[:400].std(0)


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No $TSMAMBA_DATA_DIR and an empty user cache under tmp_path; returns the cache folder."""
    monkeypatch.delenv("TSMAMBA_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "tsmamba"


@pytest.fixture
def one_thread():
    """One intra-op thread: tiny models only lose time to thread hand-offs on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
