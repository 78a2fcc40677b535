"""benchmarks/cpu_scan_ab.py and revision_module: an earlier scan_torch.py timed beside ours in one process."""

from __future__ import annotations

from pathlib import Path

from benchmark_scripts import load_benchmark

ROOT = Path(__file__).resolve().parents[1]


def test_revision_module_loads_a_git_revisions_file_beside_the_installed_one(monkeypatch):
    monkeypatch.chdir(ROOT)
    revision_module = load_benchmark("revision_module")
    from tsmamba.kernels import scan_torch

    old = revision_module.load_revision_module("HEAD", "kernels/scan_torch.py", "scan_torch_head", {"_LOG2E": "_L2E"})
    assert old.__name__ == "scan_torch_head" and old is not scan_torch and old.ScanArgs is not scan_torch.ScanArgs
    assert hasattr(old, "_L2E") and not hasattr(old, "_LOG2E")  # the replacements were applied to its source


def test_cpu_scan_ab_checks_both_versions_agree_and_writes_one_row_per_shape(tmp_path):
    cpu_scan_ab = load_benchmark("cpu_scan_ab")
    out = tmp_path / "ab.md"
    cpu_scan_ab.main(["--baseline", str(ROOT / "kernels" / "scan_torch.py"), "--rounds", "1", "--calls", "1",
                      "--out", str(out)])  # fmt: skip
    rows = [line for line in out.read_text().splitlines() if line.startswith("| ") and "ms |" not in line]
    assert len(rows) == 2 * len(cpu_scan_ab.SHAPES)  # the training call and the forward alone
    assert {row.split("|")[2].strip() for row in rows} == {"forward + backward", "forward alone"}
    assert all(float(row.split("|")[-2]) > 0 for row in rows)  # the ratio column
