"""benchmarks/device/hold.sh, the script a GPU hold runs: its grid and wait parts, on the CPU with a dry run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOLD = ROOT / "benchmarks" / "device" / "hold.sh"


def _run(part: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "OUT": str(tmp_path / "out"), "WORK": str(tmp_path / "work"), "HOLD_INSTALL": "0", **env}
    if "PATH" not in env:  # python3 = this interpreter, unless a test passes stand-ins
        full["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{full['PATH']}"
    return subprocess.run(["bash", str(HOLD), part], cwd=ROOT, env=full, capture_output=True, text=True, timeout=300)


def _stand_in_runner(tmp_path: Path, body: str) -> str:
    """A PATH whose python3 plays the runner: ``body`` runs for `reproduce` calls (the results folder is
    $WORK/grid_out), every other call exits 0."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "python3"
    fake.write_text(f'#!/usr/bin/env bash\ncase "$*" in *reproduce*) ;; *) exit 0 ;; esac\n{body}\n')
    fake.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


@pytest.mark.slow  # two CLI processes
def test_grid_runs_detached_and_wait_packs_its_results(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "work").mkdir()
    results = tmp_path / "paper"
    shutil.copytree(ROOT / "benchmarks" / "results" / "paper", results, ignore=shutil.ignore_patterns("logs", "*.png"))
    grid = (
        f"benchmarks/suites/paper_l512.toml --out {results} --models dlinear --datasets Weather --seeds 2021 "
        "--horizons 96 --dry-run"
    )
    started = _run("grid", tmp_path, GRID=grid, HOLD="60")
    assert "grid started" in started.stdout, started.stdout + started.stderr
    packed = _run("wait", tmp_path, WAIT="60")
    assert "not done" not in packed.stdout, packed.stdout + packed.stderr
    with tarfile.open(tmp_path / "out" / "grid.tar.gz") as tar:
        names = tar.getnames()
        log = tar.extractfile("grid_out/grid.log").read().decode()
    assert "grid_out/results.jsonl" in names
    assert "Weather-dlinear-L512-H96-s2021" in log  # the dry run listed the slice's cell


def test_wait_with_stop_ends_a_running_grid_through_its_runner(tmp_path):
    # a stand-in python3 plays a runner that would outlive the call: STOP=1 SIGTERMs it (not the shells around
    # it), it records the signal as the runner's handler would, and the results folder is packed all the same
    marker = tmp_path / "runner_stopped"
    path = _stand_in_runner(tmp_path, f"trap 'echo TERM > {marker}; exit 143' TERM\nsleep 120 & wait $!")
    (tmp_path / "out").mkdir()
    (tmp_path / "work").mkdir()
    results = tmp_path / "folder"
    results.mkdir()
    (results / "results.jsonl").write_text("{}\n")
    started = _run("grid", tmp_path, GRID=f"suite.toml --out {results}", HOLD="2", PATH=path)
    assert "grid started" in started.stdout, started.stdout + started.stderr
    assert not (tmp_path / "work" / "grid.done").exists()  # still running after the call
    stopped = _run("wait", tmp_path, WAIT="1", STOP="1", PATH=path)
    assert "grid stopped" in stopped.stdout and "not done" not in stopped.stdout, stopped.stdout + stopped.stderr
    assert marker.read_text().strip() == "TERM"
    with tarfile.open(tmp_path / "out" / "grid.tar.gz") as tar:
        assert "grid_out/results.jsonl" in tar.getnames()


def test_a_second_grid_on_the_machine_goes_on_in_the_first_ones_copy(tmp_path):
    # on the H200 on 2026-12-02 a start whose budget ran nothing logged its run, and the next start's fresh copy
    # of the committed folder dropped that line: a grid of the same folder now continues the machine's copy, a
    # grid still running refuses a second start, and another folder gets a fresh copy
    (tmp_path / "out").mkdir()
    (tmp_path / "work").mkdir()
    results = tmp_path / "folder"
    results.mkdir()
    (results / "runs.jsonl").write_text('{"event": "run", "n": 0}\n')
    (results / "results.jsonl").write_text("{}\n")
    runs = tmp_path / "work" / "grid_out" / "runs.jsonl"
    quick = _stand_in_runner(tmp_path, f'echo \'{{"event": "run", "n": 1}}\' >> {runs}')
    assert "grid started" in _run("grid", tmp_path, GRID=f"suite.toml --out {results}", HOLD="5", PATH=quick).stdout
    second = _run("grid", tmp_path, GRID=f"suite.toml --out {results}", HOLD="5", PATH=quick)
    assert "continuing" in second.stdout, second.stdout + second.stderr
    assert runs.read_text().count("\n") == 3  # the committed line and both starts' lines

    other = tmp_path / "other"
    shutil.copytree(results, other)
    (other / "runs.jsonl").write_text('{"event": "run", "n": 9}\n')
    fresh = _run("grid", tmp_path, GRID=f"suite.toml --out {other}", HOLD="5", PATH=quick)
    assert "continuing" not in fresh.stdout and runs.read_text().startswith('{"event": "run", "n": 9}')

    slow = _stand_in_runner(tmp_path, "trap 'exit 143' TERM\nsleep 120 & wait $!")
    assert "grid started" in _run("grid", tmp_path, GRID=f"suite.toml --out {results}", HOLD="1", PATH=slow).stdout
    refused = _run("grid", tmp_path, GRID=f"suite.toml --out {results}", HOLD="1", PATH=slow)
    assert refused.returncode == 2 and "a grid is running already" in refused.stdout, refused.stdout
    assert "grid stopped" in _run("wait", tmp_path, WAIT="1", STOP="1", PATH=slow).stdout


@pytest.mark.slow  # one CLI process
def test_suite_runs_in_the_foreground_and_packs_its_results(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "work").mkdir()
    suite = "benchmarks/suites/tsm2_sweep_ettm.toml --variants default,layers3 --datasets ETTm2 --horizons 96 --dry-run"
    result = _run("suite", tmp_path, SUITE=suite, LIMIT="60")
    assert "suite rc=0" in result.stdout, result.stdout + result.stderr
    with tarfile.open(tmp_path / "out" / "suite.tar.gz") as tar:
        log = tar.extractfile("suite/suite.log").read().decode()
    assert "ETTm2-tsm2-L512-H96-s2021-layers3" in log  # the dry run listed the variant's cell


@pytest.mark.slow  # one CLI process
def test_suite_resumes_a_committed_results_folder(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "work").mkdir()
    suite = "benchmarks/suites/paper_l96.toml --datasets ETTh1 --models tsm2 --horizons 96 --seeds 2021 --dry-run"
    result = _run("suite", tmp_path, SUITE=suite, LIMIT="60", FROM="benchmarks/results/paper_l96")
    assert "suite rc=0" in result.stdout, result.stdout + result.stderr
    with tarfile.open(tmp_path / "out" / "suite.tar.gz") as tar:
        log = tar.extractfile("suite/suite.log").read().decode()
        rows = tar.extractfile("suite/results.jsonl").read().decode()
    assert "done  ETTh1-tsm2-L96-H96-s2021" in log  # recorded in the committed folder: not run again
    assert rows == (ROOT / "benchmarks" / "results" / "paper_l96" / "results.jsonl").read_text()


def test_steps_give_each_build_its_shim_and_scan_overrides(tmp_path):
    # a stand-in python3 records how each step measurement would be launched (no GPU here)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    fake = bin_dir / "python3"
    fake.write_text(f'#!/usr/bin/env bash\necho "PYTHONPATH=$PYTHONPATH ARGS=$*" >> {calls}\n')
    fake.chmod(0o755)
    (tmp_path / "out").mkdir()
    env = {**os.environ, "OUT": str(tmp_path / "out"), "WORK": str(tmp_path), "HOLD_INSTALL": "0", "ROUNDS": "1",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "BUILDS": "cur probe+skip=32,maxnreg=168,fwd.maxnreg=128",
           "SPECS": "tsm2:Weather-like:compile-graphs tsm2:Weather-like:graphs "
                    "patchtst:Weather-like:compile-graphs:32-true",
           "PRECISION": "bf16-mixed", "STEP_ARGS": "--adam unfused"}  # fmt: skip
    env.pop("PYTHONPATH", None)
    result = subprocess.run(["bash", str(HOLD), "steps"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    runs = [line for line in calls.read_text().splitlines() if "model_speed.py" in line]
    # one process per (precision, build): bf16 (the PRECISION default) under both builds, then fp32 under the
    # first only (PatchTST has no scan: timed under the first build only)
    assert len(runs) == 3
    cur, probe, cur_fp32 = runs
    assert cur.startswith("PYTHONPATH= ") and "--scan-config" not in cur
    assert probe.startswith("PYTHONPATH=.stage/shims/probe ")
    assert "--scan-config skip=32 maxnreg=168 fwd.maxnreg=128" in probe
    assert all("--specs tsm2:Weather-like:compile-graphs tsm2:Weather-like:graphs --" in r for r in (cur, probe))
    assert all("--precision bf16-mixed" in r for r in (cur, probe))  # PRECISION: the default of a spec
    assert all(r.endswith("--adam unfused") for r in runs)  # STEP_ARGS: every run
    assert cur_fp32.startswith("PYTHONPATH= ") and "--specs patchtst:Weather-like:compile-graphs --" in cur_fp32
    assert "--precision 32-true" in cur_fp32
    with tarfile.open(tmp_path / "out" / "steps.tar.gz") as tar:  # one log per build, precision and round
        assert {n.rsplit("/", 1)[-1] for n in tar.getnames() if n.endswith(".log")} == {
            "cur.bf16-mixed.1.log",
            "probe_skip=32_maxnreg=168_fwd.maxnreg=128.bf16-mixed.1.log",
            "cur.32-true.1.log",
        }


@pytest.mark.parametrize("tests", ["1", "0"])
def test_kernels_runs_the_native_tests_unless_told_not_to(tmp_path, tests):
    # TESTS=0: a call that builds mamba_ssm in the background leaves the native tests to the next call; the
    # kernel_bench rounds run either way (stand-ins for python3 and nvidia-smi record the launches)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    for name in ("python3", "nvidia-smi"):
        (bin_dir / name).write_text(f'#!/usr/bin/env bash\necho "{name} $*" >> {calls}\n')
        (bin_dir / name).chmod(0o755)
    (tmp_path / "out").mkdir()
    env = {**os.environ, "OUT": str(tmp_path / "out"), "WORK": str(tmp_path), "HOLD_INSTALL": "0", "TESTS": tests,
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "BUILDS": "cur"}  # fmt: skip
    result = subprocess.run(["bash", str(HOLD), "kernels"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    launched = calls.read_text().splitlines()
    assert any("-m pytest" in line for line in launched) == (tests == "1")
    assert sum("kernel_bench.py" in line for line in launched) == 2  # two rounds of the one build


def test_prepare_stages_a_commits_kernels_or_its_whole_package(tmp_path):
    # "<commit>" shims only tsmamba.kernels; "tree:<commit>" the whole package, so a model change can be timed
    # beside the working tree in one call (BUILDS="cur tree-<commit>"). Imported as hold.sh runs the benchmarks:
    # the shim first on PYTHONPATH, the script's folder (not the repo root) first on sys.path. Run in a clone made
    # without git's templates (no .git/info, as CI's checkout had), with this tree's prepare.sh
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--template=", str(ROOT), str(clone)], check=True, timeout=120)
    shutil.copy(ROOT / "benchmarks" / "device" / "prepare.sh", clone / "benchmarks" / "device" / "prepare.sh")
    stage = tmp_path / "stage"
    env = {**os.environ, "WHEELS": "0", "DATASETS": "", "STAGE": str(stage)}
    result = subprocess.run(
        ["bash", str(clone / "benchmarks" / "device" / "prepare.sh"), "HEAD", "tree:HEAD"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/.stage/" in (clone / ".git" / "info" / "exclude").read_text().split()
    assert sorted(p.name for p in (stage / "shims").iterdir()) == ["HEAD", "tree-HEAD"]
    assert not (stage / "shims" / "HEAD" / "tsmamba" / "models").exists()
    probe = "import tsmamba.kernels, tsmamba.models.selective_ssm as m; print(tsmamba.kernels.__file__, m.__file__)"
    for shim, models_from in (("HEAD", ROOT), ("tree-HEAD", stage / "shims" / "tree-HEAD")):
        env = {**os.environ, "PYTHONPATH": str(stage / "shims" / shim)}
        out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        kernels_file, models_file = map(Path, out.stdout.split())
        assert kernels_file.is_relative_to(stage / "shims" / shim)
        assert models_file.is_relative_to(models_from), (shim, models_file)


def test_profile_runs_each_build_under_its_shim_and_packs_the_tables(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"  # stands in for the GPU run: records shim and arguments, writes the --out file
    script = (
        '#!/usr/bin/env bash\necho "PYTHONPATH=$PYTHONPATH ARGS=$*"\n'
        '[ "${@: -2:1}" = --out ] && printf "| all | 9 | 1.0 | 100.0 |\\n" > "${@: -1}"\nexit 0\n'
    )
    fake.write_text(script)
    fake.chmod(0o755)
    (tmp_path / "out").mkdir()
    env = {**os.environ, "OUT": str(tmp_path / "out"), "WORK": str(tmp_path), "HOLD_INSTALL": "0",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "BUILDS": "cur tree-abc1234",
           "PROFILE_ARGS": "--model tsm2 --inference"}  # fmt: skip
    env.pop("PYTHONPATH", None)
    result = subprocess.run(["bash", str(HOLD), "profile"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("| all | 9 |") == 2, result.stdout  # each build's summary row echoed
    with tarfile.open(tmp_path / "out" / "profile.tar.gz") as tar:
        names = {n.rsplit("/", 1)[-1] for n in tar.getnames()}
        log = tar.extractfile("profile/tree-abc1234.log").read().decode()
    assert {"cur.md", "cur.log", "tree-abc1234.md", "tree-abc1234.log"} <= names
    assert log.startswith("PYTHONPATH=.stage/shims/tree-abc1234 ")
    assert "profile_step.py --device cuda --model tsm2 --inference --out" in log


def test_installs_are_made_once_per_warm_machine(tmp_path):
    # a second call with the same wheels, tree path and pyproject.toml skips both pip installs; a changed
    # pyproject.toml redoes the editable one
    bin_dir, tree = tmp_path / "bin", tmp_path / "tree"
    for d in (bin_dir, tree / ".whl", tmp_path / "out", tmp_path / "work", tmp_path / "site"):
        d.mkdir(parents=True)
    (tree / ".whl" / "polars-1.0-py3-none-any.whl").write_text("")
    (tree / "pyproject.toml").write_text("[project]\n")
    calls = tmp_path / "calls.txt"
    (bin_dir / "python3").write_text(f'#!/usr/bin/env bash\necho "$*" >> {calls}\n')
    (bin_dir / "python3").chmod(0o755)
    env = {**os.environ, "OUT": str(tmp_path / "out"), "WORK": str(tmp_path / "work"), "SITE": str(tmp_path / "site"),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PROFILE_ARGS": "--model tsm2"}  # fmt: skip

    def pip_calls() -> list[str]:
        subprocess.run(["bash", str(HOLD), "profile"], cwd=tree, env=env, capture_output=True, text=True, check=True)
        lines = [line for line in calls.read_text().splitlines() if line.startswith("-m pip install")]
        calls.write_text("")
        return lines

    first = pip_calls()
    assert len(first) == 2 and "--target" in first[0] and "-e ." in first[1]
    assert pip_calls() == []
    (tree / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    again = pip_calls()
    assert len(again) == 1 and "-e ." in again[0]


def test_conv_passes_its_arguments_and_packs_the_table(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"  # stands in for the GPU run: records its arguments, writes the --out file
    # (hold.sh's first python3 call, the torch version line, passes no --out: it must not write a file)
    script = '#!/usr/bin/env bash\necho "ARGS=$*"\n[ "${@: -2:1}" = --out ] && echo "| table |" > "${@: -1}"\nexit 0\n'
    fake.write_text(script)
    fake.chmod(0o755)
    (tmp_path / "out").mkdir()
    env = {**os.environ, "OUT": str(tmp_path / "out"), "WORK": str(tmp_path), "HOLD_INSTALL": "0",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "CONV_ARGS": "--dtypes fp32 bf16 --dpre-configs block_r=32,num_warps=16"}  # fmt: skip
    result = subprocess.run(["bash", str(HOLD), "conv"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and "conv rc=0" in result.stdout, result.stdout + result.stderr
    assert "tests rc=0" in result.stdout  # the native kernel tests first (new kernels are timed only after them)
    with tarfile.open(tmp_path / "out" / "conv.tar.gz") as tar:
        log = tar.extractfile("conv/conv.log").read().decode()
        table = tar.extractfile("conv/conv.md").read().decode()
        tests = tar.extractfile("conv/tests.log").read().decode()
    assert "benchmarks/conv_bench.py --dtypes fp32 bf16 --dpre-configs block_r=32,num_warps=16 --out" in log
    assert table.strip() == "| table |" and "-m pytest -q -n 8 -p no:cacheprovider tests/kernels" in tests
    (tmp_path / "out" / "conv.tar.gz").unlink()
    skipped = subprocess.run(["bash", str(HOLD), "conv"], cwd=ROOT, env={**env, "TESTS": "0"}, capture_output=True,
                             text=True)  # fmt: skip
    assert "conv rc=0" in skipped.stdout and "tests rc=" not in skipped.stdout


def test_table_runs_the_whole_model_speed_table_and_packs_it(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"  # stands in for the GPU run: records its arguments, writes two rows to --out
    rows = "| ETTh1-like | 96 | tsm2 | eager | 1.0 |\\n| ETTh1-like | 96 | tsm2 | graphs | 0.5 |\\n"
    fake.write_text(
        f'#!/usr/bin/env bash\necho "ARGS=$*"\n[ "${{@: -2:1}}" = --out ] && printf "{rows}" > "${{@: -1}}"\n'
    )
    fake.chmod(0o755)
    (tmp_path / "out").mkdir()
    env = {**os.environ, "OUT": str(tmp_path / "out"), "WORK": str(tmp_path), "HOLD_INSTALL": "0",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "TABLE_ARGS": "--precision bf16-mixed"}  # fmt: skip
    result = subprocess.run(["bash", str(HOLD), "table"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and "table rc=0" in result.stdout, result.stdout + result.stderr
    assert result.stdout.splitlines()[-2] == "2"  # the number of rows the table holds
    with tarfile.open(tmp_path / "out" / "table.tar.gz") as tar:
        log = tar.extractfile("table/table.log").read().decode()
        table = tar.extractfile("table/model_speed.md").read().decode()
    assert "benchmarks/model_speed.py --device cuda --reps 10 --row-seconds 0.8 --precision bf16-mixed --out" in log
    assert table.count("| ETTh1-like | 96 | tsm2 |") == 2


def test_an_unknown_part_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    result = _run("nonsense", tmp_path)
    assert result.returncode == 2 and "unknown part nonsense" in result.stdout
