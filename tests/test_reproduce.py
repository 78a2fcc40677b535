"""tsmamba reproduce: suite files -> cells, resume, budget, GPU slots, worker, progress lines, summary."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest
import torch

from tsmamba.data.windows import WindowDataset
from tsmamba.models.dlinear import DLinearConfig, DLinearModel
from tsmamba.reproduce.cell import Cell
from tsmamba.reproduce.configs import expected_config
from tsmamba.reproduce.process import CellProcess, WorkerLauncher
from tsmamba.reproduce.progress import PlainReporter, parse_epoch
from tsmamba.reproduce.runner import plan, run_suite
from tsmamba.reproduce.scheduler import DurationEstimate, Outcome, Scheduler
from tsmamba.reproduce.sharing import device_sharing
from tsmamba.reproduce.store import ResultStore
from tsmamba.reproduce.suite import load_suite, parse_suite, select
from tsmamba.reproduce.summary import aggregate, comparison_counts, runs_table, write_summary
from tsmamba.training import TrainConfig, epoch_line, fit_model

REPO = Path(__file__).resolve().parents[1]
GRID = {"datasets": ["ETTh1"], "models": ["dlinear"], "lookbacks": [96], "horizons": [24, 48], "seeds": [1]}


# --- suites and cells ---------------------------------------------------------------------------------------


def test_suite_expands_the_grid_with_variants_and_options() -> None:
    suite = parse_suite(
        {
            "name": "s",
            "seeds": [1, 2],
            "grid": [
                {**GRID, "datasets": ["etth1"], "options": {"max_epochs": 1}, "seeds": [1, 2]},
                {
                    **GRID,
                    "models": ["tsm2", "dlinear"],
                    "horizons": [24],
                    "model_options": {"tsm2": {"d_model": 8}},
                    "variants": [{"tag": "a"}, {"tag": "b", "options": {"learning_rate": 0.01}}],
                },
            ],
        }
    )
    ids = [c.id for c in suite.cells]
    assert ids[:4] == ["ETTh1-dlinear-L96-H24-s1", "ETTh1-dlinear-L96-H24-s2", "ETTh1-dlinear-L96-H48-s1",
                       "ETTh1-dlinear-L96-H48-s2"]  # fmt: skip
    assert len(ids) == 4 + 2 * 2 * 1 * 1 * 1 and "ETTh1-tsm2-L96-H24-s1-b" in ids  # models x variants x seeds
    by_id = {c.id: c for c in suite.cells}
    assert by_id["ETTh1-tsm2-L96-H24-s1-b"].options == {"d_model": 8, "learning_rate": 0.01}
    assert by_id["ETTh1-dlinear-L96-H24-s1-a"].options == {}
    assert by_id["ETTh1-dlinear-L96-H24-s1"].options == {"max_epochs": 1}
    assert all(c.suite == "s" for c in suite.cells)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "unknown key"),
        ({"horizons": []}, "'horizons' must be a non-empty list"),
        ({"options": {"d_modell": 3}}, "Unknown option"),
        ({"evaluate": "train"}, "evaluate must be one of"),
        ({"variants": [{"tag": "x"}, {"tag": "x"}]}, "appears twice"),
        ({"variants": [{"tag": "x"}, {}]}, "each needs a 'tag'"),
        ({"variants": [{"tag": "a b"}]}, "may hold only"),
        ({"model_options": {"tsm2": {"d_model": 8}}}, "not in models"),
        ({"datasets": ["ETTh9"]}, "ETTh9"),
    ],
)
def test_bad_suites_are_explained(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_suite({**GRID, **change})


def test_missing_grid_key_names_it() -> None:
    with pytest.raises(ValueError, match="'seeds' is missing"):
        parse_suite({k: v for k, v in GRID.items() if k != "seeds"})


def test_committed_suites_parse() -> None:
    suites = {p.stem: load_suite(p) for p in sorted((REPO / "benchmarks" / "suites").glob("*.toml"))}
    assert len(suites["paper_l512"].cells) == 5 * 3 * 4 * 3
    assert {c.id for c in suites["tsm2_l512_one_seed"].cells} <= {c.id for c in suites["paper_l512"].cells}
    assert all(c.evaluate == "val" for name, s in suites.items() if "sweep" in name for c in s.cells)
    assert sorted(c.devices for c in suites["ddp_compare"].cells) == [1, 1, 2, 2]


def test_select_keeps_the_suites_cells_and_ids_for_the_chosen_values() -> None:
    suite = load_suite(REPO / "benchmarks" / "suites" / "paper_l512.toml")
    part = select(suite, models=["DLinear"], seeds=["2021"], datasets=None, horizons=None)
    assert len(part.cells) == 5 * 4 and {c.model for c in part.cells} == {"dlinear"}
    assert {c.seed for c in part.cells} == {2021}
    assert {c.id for c in part.cells} <= {c.id for c in suite.cells}
    both = select(suite, datasets=["etth1", "ETTh2"], horizons=["96"])
    assert {(c.dataset, c.horizon) for c in both.cells} == {("ETTh1", 96), ("ETTh2", 96)}
    with pytest.raises(ValueError, match="has no model .*'lstm'.*it holds dlinear, patchtst, tsm2"):
        select(suite, models=["lstm"])


def test_select_by_variant_tag_runs_part_of_a_sweep() -> None:
    # a later session re-runs only some variants of a sweep (its earlier rows stale after a recipe change)
    suite = load_suite(REPO / "benchmarks" / "suites" / "tsm2_sweep_etth.toml")
    part = select(suite, variants=["default", "NoChannel"])
    assert {c.variant for c in part.cells} == {"default", "nochannel"} and len(part.cells) == 2 * 2 * 4
    assert {c.id for c in part.cells} <= {c.id for c in suite.cells}
    assert all(c.options["channel_mixer"] is False for c in part.cells if c.variant == "nochannel")
    with pytest.raises(ValueError, match="has no variant .*'d128'"):
        select(suite, variants=["d128"])


def test_cli_reproduce_dry_run_lists_only_the_selected_cells(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tsmamba.cli import app

    suite = str(REPO / "benchmarks" / "suites" / "paper_l512.toml")
    args = ["reproduce", suite, "--out", str(tmp_path), "--dry-run", "--models", "dlinear", "--seeds", "2022"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    ids = set(re.findall(r"\b\w+-\w+-L512-H\d+-s\d+\b", result.output))
    assert ids and all("-dlinear-" in i and i.endswith("-s2022") for i in ids)
    bad = CliRunner().invoke(app, [*args[:4], "--seeds", "1999"])
    assert bad.exit_code == 2 and "has no seed" in bad.output


def test_cli_summary_after_a_slice_lists_what_the_whole_suite_lacks(tmp_path: Path) -> None:
    # a run restricted with --datasets rewrites table.md for the whole folder: its "no result yet" list must name
    # the other datasets' cells too, not only the slice's
    from typer.testing import CliRunner

    from tsmamba.cli import app

    suite_file = tmp_path / "s.toml"
    suite_file.write_text(
        'name = "s"\ndatasets = ["ETTh1", "ETTh2"]\nmodels = ["dlinear"]\nlookbacks = [96]\nhorizons = [24]\n'
        "seeds = [1]\n"
    )
    out = tmp_path / "out"
    etth1 = next(c for c in load_suite(suite_file).cells if c.dataset == "ETTh1")
    ResultStore(out).append([fake_row(etth1)])
    args = ["reproduce", str(suite_file), "--out", str(out), "--datasets", "ETTh1", "--summarize-only"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = (out / "table.md").read_text()
    assert "1 cell(s) of the suite have no result yet: ETTh2-dlinear-L96-H24-s1." in table


def test_cli_reproduce_stopped_still_writes_the_summary_and_says_how_to_resume(monkeypatch, tmp_path: Path) -> None:
    # hold.sh's STOP=1 SIGTERMs the runner: the table of what was recorded is written, the exit code says stopped
    from typer.testing import CliRunner

    import tsmamba.reproduce.runner as runner
    from tsmamba.cli import app

    def stopped_run(suite, out, **kwargs):
        ResultStore(out).append([fake_row(suite.cells[0])])  # one cell finished before the signal
        raise KeyboardInterrupt("signal 15")

    monkeypatch.setattr(runner, "run_suite", stopped_run)
    suite_file = tmp_path / "s.toml"
    suite_file.write_text(
        'name = "s"\ndatasets = ["ETTh1"]\nmodels = ["dlinear"]\nlookbacks = [96]\nhorizons = [24, 48]\nseeds = [1]\n'
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["reproduce", str(suite_file), "--out", str(out), "--gpus", ""])
    assert result.exit_code == 130, result.output
    assert "stopped (signal 15): the finished cells are recorded, 1 cell(s) of the suite are not" in result.output
    assert "1 cell(s) of the suite have no result yet" in (out / "table.md").read_text()


def test_cli_reproduce_dry_run_shows_the_budget_order_and_estimates(tmp_path: Path) -> None:
    # seed 2021 recorded for DLinear on ETTh1 (H=96: 20 s) and Weather (H=96: 400 s); seed 2022 to run. A budget
    # that cannot hold them lists the short cells first, and every listed cell shows its estimate
    from typer.testing import CliRunner

    from tsmamba.cli import app

    store = ResultStore(tmp_path)
    rows = [
        fake_row(Cell(d, "dlinear", 512, 96, 2021, suite="paper_l512"), fit_seconds=s, device="NVIDIA H200")
        for d, s in (("ETTh1", 20.0), ("Weather", 400.0))
    ]
    store.append(rows)
    suite = str(REPO / "benchmarks" / "suites" / "paper_l512.toml")
    args = ["reproduce", suite, "--out", str(tmp_path), "--dry-run", "--models", "dlinear", "--seeds", "2022",
            "--datasets", "ETTh1,Weather", "--horizons", "96", "--gpus", "0", "--per-gpu", "1"]  # fmt: skip

    def listed(*extra: str) -> list[str]:
        result = CliRunner().invoke(app, [*args, *extra])
        assert result.exit_code == 0, result.output
        return [line.split()[1:] for line in result.output.splitlines() if line.startswith("  run ")]

    as_given = listed()  # no budget: longest first, as the runner always started them
    assert [r[0] for r in as_given] == ["Weather-dlinear-L512-H96-s2022", "ETTh1-dlinear-L512-H96-s2022"]
    assert "~431" in " ".join(as_given[0]) and "~51" in " ".join(as_given[1])  # fit + predict + 30 s start-up
    budget = listed("--budget-minutes", "5")  # 300 s of one slot cannot hold 431 + 51 s
    assert [r[0] for r in budget] == ["ETTh1-dlinear-L512-H96-s2022", "Weather-dlinear-L512-H96-s2022"]
    assert [r[0] for r in listed("--budget-minutes", "10")] == [r[0] for r in as_given]
    assert all("(1 GPU," in " ".join(r) for r in as_given)
    # the Weather row's cell shared its GPU with one other for its whole 400 s: at 1 a GPU, (400 + 31) / 2 s
    store.log_event({"event": "cell", "cell": rows[1]["cell"], "status": "done", "seconds": 400.0, "gpus": ["0"],
                     "time": "2026-12-02T10:00:00+00:00"})  # fmt: skip
    store.log_event({"event": "cell", "cell": "other", "status": "done", "seconds": 400.0, "gpus": ["0"],
                     "time": "2026-12-02T10:00:00+00:00"})  # fmt: skip
    assert "~216" in " ".join(listed()[0]) and "~431" in " ".join(listed("--per-gpu", "2")[0])
    on_cpu = CliRunner().invoke(app, [*args[:-4], "--gpus", "", "--cpu-slots", "1"])  # no GPU: CPU slots
    run_lines = [line for line in on_cpu.output.splitlines() if line.startswith("  run ")]
    assert on_cpu.exit_code == 0 and run_lines and all("(CPU slot," in line for line in run_lines), on_cpu.output


def test_cell_round_trips_and_counts_devices() -> None:
    cell = Cell("ETTh1", "tsm2", 512, 96, 2021, "ddp2", "test", {"devices": 2, "strategy": "ddp"}, "s")
    assert Cell.from_json(cell.to_json()) == cell
    assert cell.id == "ETTh1-tsm2-L512-H96-s2021-ddp2" and cell.devices == 2
    assert Cell("ETTh1", "tsm2", 512, 96, 1, options={"train.devices": [0, 1, 2]}).devices == 3


# --- resume: recorded cells are skipped, rows run under other settings are refused ----------------------------


def fake_row(cell: Cell, mse: float = 0.4, **extra) -> dict:
    config = expected_config(cell)
    return {
        "dataset": cell.dataset,
        "model": cell.model,
        "lookback": cell.lookback,
        "horizon": cell.horizon,
        "seed": cell.seed,
        "mse": mse,
        "mae": mse,
        "fit_seconds": 10.0,
        "predict_seconds": 1.0,
        "epochs_run": 3,
        "config": json.dumps(config),
        "suite": cell.suite,
        "cell": cell.id,
        "variant": cell.variant,
        "eval_split": cell.evaluate,
        **extra,
    }


class FakeProcess:
    """Ends after ``duration`` fake seconds; on success writes the cell's row as a worker would."""

    def __init__(self, clock, duration: float, on_end, code: int = 0) -> None:
        self.clock, self.end, self.on_end, self.code, self.stopped = clock, clock() + duration, on_end, code, False

    def poll(self) -> int | None:
        if self.stopped:
            return -15
        if self.clock() < self.end:
            return None
        if self.code == 0:
            self.on_end()
        return self.code

    def stop(self) -> None:
        self.stopped = True


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_run_suite_skips_recorded_cells_and_picks_up_rows_left_by_a_killed_run(tmp_path: Path) -> None:
    suite = parse_suite({**GRID, "horizons": [24, 48, 96]}, name="s")
    store = ResultStore(tmp_path)
    first, second, third = suite.cells
    store.append([fake_row(first)])
    store.cells_dir.mkdir(parents=True)
    (store.cell_file(second.id)).write_text(json.dumps(fake_row(second)) + "\n")  # a finished cell not yet moved
    launched = []

    def launch(cell: Cell, gpus: list[str]) -> FakeProcess:
        launched.append(cell.id)
        return FakeProcess(time.monotonic, 0.0, lambda: store.cell_file(cell.id).write_text(json.dumps(fake_row(cell))))

    outcomes = run_suite(suite, tmp_path, gpus=[], launch=launch, reporter=PlainReporter(1))
    assert launched == [third.id] and [o.status for o in outcomes] == ["done"]
    assert sorted(store.done()) == sorted(c.id for c in suite.cells)
    assert not list(store.cells_dir.glob("*.jsonl"))
    csv_lines = store.csv.read_text().splitlines()
    assert len(csv_lines) == 4 and csv_lines[0].endswith("suite,cell,variant,eval_split")
    run = [json.loads(x) for x in store.runs.read_text().splitlines()][-1]
    assert run["event"] == "run" and run["done"] == 1 and run["recorded_before"] == 2
    assert plan(suite, store).todo == []


def test_a_stopped_run_records_its_killed_cells_and_itself(tmp_path: Path) -> None:
    # SIGTERM (hold.sh's STOP=1) or Ctrl-C while cells run: the finished cell is recorded, the running one logged as
    # killed, and the run line written (it was missing from runs.jsonl after the H200 grid of 2026-12-02)
    suite = parse_suite(GRID, name="s")
    store = ResultStore(tmp_path)
    quick, slow = suite.cells

    class Interrupted(FakeProcess):  # the signal arrives on its second poll, after the quick cell ended
        polls = 0

        def poll(self) -> int | None:
            self.polls += 1
            if self.polls == 2:
                raise KeyboardInterrupt("signal 15")
            return super().poll()

    def launch(cell: Cell, gpus: list[str]) -> FakeProcess:
        if cell.id == quick.id:
            row = json.dumps(fake_row(cell))
            return FakeProcess(time.monotonic, 0.0, lambda: store.cell_file(cell.id).write_text(row))
        handles.append(Interrupted(time.monotonic, 1e9, lambda: None))
        return handles[-1]

    handles: list[FakeProcess] = []
    with pytest.raises(KeyboardInterrupt, match="signal 15"):
        run_suite(suite, tmp_path, gpus=[], cpu_slots=2, launch=launch, reporter=PlainReporter(2))
    events = [json.loads(x) for x in store.runs.read_text().splitlines()]
    outcomes = {(e["cell"], e["status"]) for e in events if e["event"] == "cell"}
    assert outcomes == {(quick.id, "done"), (slow.id, "killed")}
    assert handles[0].stopped and list(store.done()) == [quick.id]
    run = events[-1]
    assert run["event"] == "run" and (run["done"], run["killed"], run["stopped"]) == (1, 1, "signal 15")
    assert "(stopped) |" in runs_table(store).splitlines()[-1]


def test_an_unreadable_record_line_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    assert store.rows() == [] and store.events() == []  # a new folder
    store.log_event({"event": "run", "done": 1})
    with open(store.runs, "a", encoding="utf-8") as handle:
        handle.write('{"event": "cell", "cell": \n')  # a line cut by a full disk or a killed writer
    with pytest.raises(ValueError, match=r"runs\.jsonl line 2 is not JSON .*fix or remove it"):
        store.events()
    store.jsonl.write_text("not json\n")
    with pytest.raises(ValueError, match=r"results\.jsonl line 1 is not JSON"):
        store.rows()


def test_failed_cells_are_not_recorded_and_run_again(tmp_path: Path) -> None:
    suite = parse_suite(GRID, name="s")
    store = ResultStore(tmp_path)

    def failing(cell: Cell, gpus: list[str]) -> FakeProcess:
        return FakeProcess(time.monotonic, 0.0, lambda: None, code=1)

    outcomes = run_suite(suite, tmp_path, gpus=[], launch=failing, reporter=PlainReporter(2))
    assert [o.status for o in outcomes] == ["failed", "failed"] and store.rows() == []
    assert [c.id for c in plan(suite, store).todo] == [c.id for c in suite.cells][::-1]  # longest (H=48) first


def test_rows_run_with_other_settings_are_refused(tmp_path: Path) -> None:
    suite = parse_suite(GRID, name="s")
    store = ResultStore(tmp_path)
    row = fake_row(suite.cells[0])
    config = json.loads(row["config"])
    config["train"]["learning_rate"] = 0.123
    store.append([{**row, "config": json.dumps(config)}])
    assert "train.learning_rate: ran 0.123" in plan(suite, store).stale[suite.cells[0].id][0]
    with pytest.raises(ValueError, match="run with other settings"):
        run_suite(suite, tmp_path, gpus=[], launch=lambda c, g: None, reporter=PlainReporter(1))


# --- scheduler: GPU slots, DDP cells, budget ------------------------------------------------------------------


def cells(n: int, **kwargs) -> list[Cell]:
    return [Cell("ETTh1", "dlinear", 96, 24, seed, **kwargs) for seed in range(n)]


def test_scheduler_spreads_cells_over_gpus_within_the_slots() -> None:
    clock = FakeClock()
    running: dict[str, list[str]] = {}
    peak: dict[str, int] = {"0": 0, "1": 0}

    def launch(cell: Cell, gpus: list[str]) -> FakeProcess:
        running[cell.id] = gpus
        for gpu in gpus:
            peak[gpu] = max(peak[gpu], sum(gpu in g for g in running.values()))
        return FakeProcess(clock, 10.0 + cell.seed, lambda: running.pop(cell.id))

    scheduler = Scheduler(launch, lambda c, code: True, ["0", "1"], per_gpu=2, clock=clock, sleep=clock.sleep)
    ddp = Cell("ETTh1", "tsm2", 96, 24, 99, "ddp", options={"devices": 2, "strategy": "ddp"})
    outcomes = scheduler.run([*cells(5), ddp, *cells(2, variant="late")])
    assert [o.status for o in outcomes].count("done") == 8
    assert peak == {"0": 2, "1": 2}  # both GPUs used, never more than per_gpu cells on one
    by_id = {o.cell.id: o for o in outcomes}
    assert sorted(by_id[ddp.id].gpus) == ["0", "1"]
    # the DDP cell waited for a free slot on both GPUs and nothing behind it jumped the queue
    assert all(by_id[c.id].gpus for c in cells(2, variant="late"))
    assert scheduler.load == {"0": 0, "1": 0}


def test_worker_environment_pins_the_assigned_gpus(tmp_path: Path) -> None:
    launcher = WorkerLauncher(lambda i: tmp_path / f"{i}.jsonl", lambda i: tmp_path / f"{i}.log", threads=2)
    env = launcher.environment(["3", "5"])
    assert env["CUDA_VISIBLE_DEVICES"] == "3,5" and env["OMP_NUM_THREADS"] == "2"
    assert launcher.environment([])["CUDA_VISIBLE_DEVICES"] == ""
    command = launcher.command(cells(1)[0], ["3"])
    assert command[1:3] == ["-m", "tsmamba.reproduce.worker"] and command[-2:] == ["--accelerator", "gpu"]
    assert Cell.from_json(command[command.index("--cell") + 1]) == cells(1)[0]


def test_execution_mode_of_a_run_reaches_the_cells_and_keeps_recorded_rows(monkeypatch, tmp_path: Path) -> None:
    # a run in another execution mode (say compile-graphs, to finish a grid sooner) passes it to every worker,
    # whose training uses it, and a row recorded in the default mode is still that cell's result (not stale)
    launcher = WorkerLauncher(lambda i: tmp_path / f"{i}.jsonl", lambda i: tmp_path / f"{i}.log", execution="eager")
    command = launcher.command(cells(1)[0], ["0"])
    assert command[-2:] == ["--execution", "eager"]
    assert "--execution" not in WorkerLauncher(lambda i: tmp_path, lambda i: tmp_path).command(cells(1)[0], [])
    import tsmamba.bench
    import tsmamba.data.loader
    from tsmamba.reproduce import worker

    seen: dict = {}

    def run_one(splits, model, horizon, seed, model_over, train_over):
        seen.update(train_over)
        return {"best_val_loss": 0.5, "epochs_run": 1, "mse": 0.1, "mae": 0.2, "fit_seconds": 1.0}

    monkeypatch.setattr(tsmamba.data.loader, "load_dataset", lambda name, data_dir=None: name)
    monkeypatch.setattr(tsmamba.bench, "prepare_splits", lambda data, lookback, horizon: None)
    monkeypatch.setattr(tsmamba.bench, "run_one", run_one)
    out = tmp_path / "row.jsonl"
    assert worker.main(["--cell", cells(1)[0].to_json(), "--out", str(out), "--execution", "eager"]) == 0
    assert seen["execution"] == "eager"
    suite = parse_suite(GRID, name="s")
    store = ResultStore(tmp_path / "store")
    row = fake_row(suite.cells[0])
    config = json.loads(row["config"])
    config["train"]["execution"] = "compile-graphs"
    store.append([{**row, "config": json.dumps(config)}])
    assert plan(suite, store).stale == {}


def test_cli_reproduce_rejects_an_unknown_execution_mode(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tsmamba.cli import app

    suite = str(REPO / "benchmarks" / "suites" / "paper_l512.toml")
    result = CliRunner().invoke(app, ["reproduce", suite, "--out", str(tmp_path), "--execution", "fast"])
    assert result.exit_code == 2 and "--execution 'fast' is not a mode" in result.output
    assert not (tmp_path / "results.jsonl").exists()


def test_budget_skips_cells_that_cannot_finish_and_stops_the_rest_at_the_deadline() -> None:
    clock = FakeClock()
    handles = []
    estimate = DurationEstimate([{"dataset": "ETTh1", "model": "tsm2", "lookback": 96, "fit_seconds": 500,
                                  "predict_seconds": 0}])  # fmt: skip

    def launch(cell: Cell, gpus: list[str]) -> FakeProcess:
        handles.append(FakeProcess(clock, 50.0 if cell.model == "dlinear" else 400.0, lambda: None))
        return handles[-1]

    long_cell = Cell("ETTh1", "tsm2", 96, 24, 0)  # expected ~530 s: cannot fit in 300 s
    unknown = Cell("ETTh2", "tsm2", 96, 24, 0)  # no estimate: starts, runs 400 s, is stopped at 300 s
    scheduler = Scheduler(
        launch, lambda c, code: True, [], cpu_slots=2, deadline=300.0, estimate=estimate, clock=clock, sleep=clock.sleep
    )
    outcomes = {o.cell.id: o for o in scheduler.run([long_cell, unknown, *cells(3)])}
    assert outcomes[long_cell.id].status == "no-time"
    assert outcomes[unknown.id].status == "killed" and handles[0].stopped
    assert [outcomes[c.id].status for c in cells(3)] == ["done", "done", "done"]
    assert clock.now <= 301.0


def test_estimates_come_from_rows_of_the_same_kind_of_device() -> None:
    # a cell trained on the CPU (535 s) must not estimate the same cell on a GPU (20 s), or a GPU run's budget
    # would leave it out; rows without a device still count
    def row(device: str | None, seconds: float) -> dict:
        base = {"dataset": "ETTh1", "model": "tsm2", "lookback": 96, "horizon": 96, "fit_seconds": seconds,
                "predict_seconds": 0}  # fmt: skip
        return base if device is None else {**base, "device": device}

    cpu, gpu = row("cpu (x86_64, 2 cores, torch 2.13.0+cpu)", 535.0), row("NVIDIA H200", 20.0)
    cell = Cell("ETTh1", "tsm2", 96, 96, 2021)
    assert DurationEstimate([cpu, gpu], startup_seconds=0, on_cpu=False)(cell) == 20.0
    assert DurationEstimate([cpu, gpu], startup_seconds=0, on_cpu=True)(cell) == 535.0
    assert DurationEstimate([cpu], startup_seconds=0, on_cpu=False)(cell) is None
    assert DurationEstimate([cpu, gpu], startup_seconds=0)(cell) == (535.0 + 20.0) / 2
    assert DurationEstimate([row(None, 40.0)], startup_seconds=0, on_cpu=False)(cell) == 40.0


def test_a_waiting_cell_is_judged_on_time_when_it_could_start() -> None:
    # one slot, two cells whose earlier-run estimate (700 s) is longer than they take (360 s): the second waits for
    # the slot, and is judged by the first's measured wall once it could start (360 + 360 <= 1000), not dropped as
    # no-time while waiting (from t = 300 s the old 700 s estimate no longer fit). As on the H200 on 2026-12-01.
    clock = FakeClock()
    estimate = DurationEstimate([{"dataset": "Weather", "model": "patchtst", "lookback": 512, "horizon": 96,
                                  "fit_seconds": 700, "predict_seconds": 0}], startup_seconds=0)  # fmt: skip
    launch = lambda cell, gpus: FakeProcess(clock, 360.0, lambda: None)  # noqa: E731
    two = [Cell("Weather", "patchtst", 512, 96, seed) for seed in (2022, 2023)]
    scheduler = Scheduler(
        launch, lambda c, code: True, ["0"], per_gpu=1, deadline=1000.0, estimate=estimate, clock=clock,
        sleep=clock.sleep,
    )  # fmt: skip
    assert [o.status for o in scheduler.run(two)] == ["done", "done"]
    assert clock.now <= 725.0


def test_device_sharing_is_the_time_mean_count_of_cells_on_a_device() -> None:
    def event(cell: str, end: int, seconds: float, gpus: list[str], status: str = "done") -> dict:
        time_ = f"2026-12-02T15:{end // 60:02d}:{end % 60:02d}+00:00"
        return {"event": "cell", "cell": cell, "status": status, "seconds": seconds, "gpus": gpus, "time": time_}

    events = [
        event("a", 100, 100.0, ["0"]),  # 0-100 on GPU 0, beside b for 50 s
        event("b", 150, 100.0, ["0"]),  # 50-150 on GPU 0
        event("c", 100, 100.0, ["1"]),  # alone on GPU 1
        event("k", 200, 200.0, ["1"], "killed"),  # 0-200 on GPU 1: no result, but it held a slot beside c
        event("d", 60, 60.0, []),  # CPU cells share "cpu"
        event("e", 60, 30.0, []),
        event("n", 60, 0.0, ["0"], "no-time"),  # never ran
        {"event": "run", "done": 5},
    ]
    sharing = device_sharing(events)
    assert sharing == {"a": 1.5, "b": 1.5, "c": 2.0, "d": 1.5, "e": 2.0}


def test_earlier_walls_are_rescaled_to_this_runs_cells_per_device() -> None:
    # on the H200 on 2026-12-02 two walls recorded with 12 cells on the GPU (1386 / 1428 s) kept every cell of a
    # 5-a-GPU run out of a 22-minute budget; those cells then took 675-934 s
    rows = [{"dataset": "Weather", "model": "patchtst", "lookback": 96, "horizon": 336, "cell": f"c{i}",
             "fit_seconds": s, "predict_seconds": 0} for i, s in ((1, 1386.0), (2, 1428.0))]  # fmt: skip
    cell = Cell("Weather", "patchtst", 96, 336, 2021)
    estimate = DurationEstimate(rows, startup_seconds=0, sharing={"c1": 12.0, "c2": 12.0}, per_device=5)
    assert estimate(cell) == pytest.approx((1386.0 + 1428.0) / 2 * 5 / 12)
    assert DurationEstimate(rows, startup_seconds=0)(cell) == (1386.0 + 1428.0) / 2  # no sharing known: as recorded
    partly = DurationEstimate(rows, startup_seconds=0, sharing={"c1": 2.0}, per_device=4)  # c2's count unknown
    assert partly(cell) == (1386.0 * 2 + 1428.0) / 2


def test_duration_estimate_prefers_the_closest_match() -> None:
    def row(horizon: int, seconds: float, variant: str = "") -> dict:
        return {"dataset": "Weather", "model": "patchtst", "lookback": 512, "horizon": horizon, "variant": variant,
                "fit_seconds": seconds, "predict_seconds": 0}  # fmt: skip

    estimate = DurationEstimate([row(96, 700), row(720, 400), row(720, 500), row(96, 100, "fast")], startup_seconds=0)
    cell = lambda h, variant="": Cell("Weather", "patchtst", 512, h, 2022, variant=variant)  # noqa: E731
    assert estimate(cell(720)) == 450  # the horizon's own rows, not the model's mean over horizons (533)
    assert estimate(cell(336)) == 1600 / 3  # no row at this horizon: every plain row of the model
    assert estimate(cell(720, "fast")) == 100  # a variant's rows, not the plain grid's
    assert estimate(Cell("ETTh1", "patchtst", 512, 96, 2022)) is None
    estimate.observe(cell(192), 300)  # measured in this run: first at its level, and for the cells it matches
    assert estimate(cell(336)) == 300 and estimate(cell(720)) == 450


def test_a_dataset_not_run_yet_is_estimated_from_other_datasets_scaled_by_cost() -> None:
    # on the H200 on 2026-12-02 the ETTm cells had no L=96 rows, started unestimated and were killed at the deadline
    sizes = {"ETTh1": 1.0, "ETTh2": 1.0, "ETTm1": 4.0}
    cost = lambda cell: sizes[cell.dataset] * (1.0 + cell.horizon / 720.0)  # noqa: E731
    rows = [{"dataset": "ETTh1", "model": "patchtst", "lookback": 96, "horizon": h, "fit_seconds": s,
             "predict_seconds": 0} for h, s in ((96, 56.0), (720, 100.0))]  # fmt: skip
    estimate = DurationEstimate(rows, startup_seconds=0, cost=cost)
    ettm1 = Cell("ETTm1", "patchtst", 96, 96, 2021)
    rate = (56.0 / cost(Cell("ETTh1", "patchtst", 96, 96, 0)) + 100.0 / 2.0) / 2  # seconds per unit, both rows
    assert estimate(ettm1) == pytest.approx(rate * cost(ettm1))
    assert estimate(Cell("ETTh1", "patchtst", 96, 336, 2021)) == 78.0  # a row of its own dataset comes first
    assert estimate(Cell("ETTm1", "tsm2", 96, 96, 2021)) is None  # no row of the model anywhere
    assert estimate(Cell("Weather", "patchtst", 96, 96, 2021)) is None  # a dataset the cost does not know
    assert DurationEstimate(rows, startup_seconds=0)(ettm1) is None  # no cost given: as before
    estimate.observe(Cell("ETTh2", "patchtst", 96, 96, 2021), 2 * 56.0)  # this run's walls come first
    assert estimate(ettm1) == pytest.approx(112.0 / cost(Cell("ETTh2", "patchtst", 96, 96, 0)) * cost(ettm1))


def test_a_budget_that_cannot_hold_the_cells_runs_the_shortest_first() -> None:
    # two slots, 400 s: four 300 s cells and eight 60 s cells. Longest first (as given) ends with 2 long cells and
    # 2 short ones done; shortest first with the 8 short ones, and the long ones left whole for a later run
    def run(deadline: float) -> tuple[Scheduler, list[Outcome], list[str]]:
        clock, started = FakeClock(), []
        seconds = {"ETTm1": 300.0, "ETTh1": 60.0}
        rows = [{"dataset": d, "model": "tsm2", "lookback": 96, "horizon": 96, "fit_seconds": s,
                 "predict_seconds": 0} for d, s in seconds.items()]  # fmt: skip

        def launch(cell: Cell, gpus: list[str]) -> FakeProcess:
            started.append(cell.dataset)
            return FakeProcess(clock, seconds[cell.dataset], lambda: None)

        long = [Cell("ETTm1", "tsm2", 96, 96, seed) for seed in range(4)]
        short = [Cell("ETTh1", "tsm2", 96, 96, seed) for seed in range(8)]
        scheduler = Scheduler(
            launch, lambda c, code: True, ["0"], per_gpu=2, deadline=deadline, clock=clock, sleep=clock.sleep,
            estimate=DurationEstimate(rows, startup_seconds=0),
        )  # fmt: skip
        return scheduler, scheduler.run([*long, *short]), started

    scheduler, outcomes, started = run(400.0)
    assert scheduler.shortest_first and started[:8] == ["ETTh1"] * 8
    done = [o.cell.dataset for o in outcomes if o.status == "done"]
    assert done == ["ETTh1"] * 8 and not [o for o in outcomes if o.status == "killed"]
    scheduler, outcomes, started = run(2000.0)  # the budget holds them all: longest first, every cell done
    assert not scheduler.shortest_first and started[:2] == ["ETTm1"] * 2
    assert [o.status for o in outcomes].count("done") == 12


def test_cells_asking_for_more_gpus_than_exist_are_reported() -> None:
    ddp = Cell("ETTh1", "tsm2", 96, 24, 0, options={"devices": 4})
    outcomes = Scheduler(lambda c, g: None, lambda c, code: True, ["0", "1"]).run([ddp])
    assert [o.status for o in outcomes] == ["unplaceable"]


# --- processes, the worker, progress lines --------------------------------------------------------------------


def test_cell_process_streams_its_lines_to_the_log_and_stops(tmp_path: Path) -> None:
    lines: list[str] = []
    script = "import time; print('epoch 1/5 train_loss 0.5 val_loss 0.6 1.0s', flush=True); time.sleep(60)"
    proc = CellProcess([sys.executable, "-c", script], {}, tmp_path / "c.log", lines.append)
    for _ in range(200):
        if lines:
            break
        time.sleep(0.05)
    assert proc.poll() is None
    proc.stop(grace_seconds=5)
    assert proc.poll() is not None
    assert lines == ["epoch 1/5 train_loss 0.5 val_loss 0.6 1.0s"]
    assert "epoch 1/5" in (tmp_path / "c.log").read_text()


def test_plain_reporter_prefixes_epoch_lines_and_reports_each_cell(capsys) -> None:
    reporter = PlainReporter(total=2)
    cell = cells(1)[0]
    reporter.launched(cell, ["1"])
    reporter.line(cell, "some warning")
    reporter.line(cell, "epoch 2/10 train_loss 0.40000 val_loss 0.50000 lr 1.0e-04 3.0s")
    reporter.line(cell, "cell result: test mse 0.3700 mae 0.4000 epochs 10 fit 30s")
    reporter.finished(Outcome(cell, "done", 31.0, ("1",), 0))
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"start {cell.id} on gpu 1",
        f"{cell.id} epoch 2/10 train_loss 0.40000 val_loss 0.50000 lr 1.0e-04 3.0s",
        f"[1/2] done {cell.id} (gpu 1, 31 s) test mse 0.3700 mae 0.4000 epochs 10 fit 30s",
    ]
    assert parse_epoch(out[1].split(" ", 1)[1]) == (2, 10, "train_loss 0.40000 val_loss 0.50000 lr 1.0e-04 3.0s")


def test_fit_model_logs_one_line_per_epoch_only_when_asked(standardised_series, capsys) -> None:
    values = standardised_series
    train, val = WindowDataset(values, 48, 12, 0, 400), WindowDataset(values, 48, 12, 352, 500)
    torch.manual_seed(0)
    config = TrainConfig(max_epochs=2, batch_size=64, epoch_log=True, accelerator="cpu")
    result = fit_model(DLinearModel(DLinearConfig(), 48, 12, 3), train, val, config)
    err = capsys.readouterr().err.splitlines()
    pattern = re.compile(r"^epoch (\d)/2 train_loss \d+\.\d{5} val_loss \d+\.\d{5} lr \S+ \d+\.\ds$")
    assert [pattern.match(line).group(1) for line in err] == ["1", "2"]
    assert err[1] == epoch_line(result.history[1], 2) and result.history[1]["seconds"] > 0
    fit_model(DLinearModel(DLinearConfig(), 48, 12, 3), train, val, TrainConfig(max_epochs=1, accelerator="cpu"))
    assert capsys.readouterr().err == ""


def test_worker_scores_the_validation_split_for_a_sweep_cell(data_dir, require_file, tmp_path: Path) -> None:
    require_file("ETTh1.csv")
    from tsmamba.reproduce import worker

    cell = Cell("ETTh1", "dlinear", 96, 24, 1, "v", "val", {"max_epochs": 1, "batch_size": 512}, "s")
    out = tmp_path / "row.jsonl"
    args = ["--cell", cell.to_json(), "--out", str(out), "--data-dir", str(data_dir), "--accelerator", "cpu"]
    assert worker.main(args) == 0
    row = json.loads(out.read_text())
    assert row["cell"] == cell.id and row["eval_split"] == "val" and row["variant"] == "v"
    assert row["n_test_windows"] == 2880 - 24 + 1  # the 2880 validation rows, not the test split
    expected = expected_config(cell)
    expected["train"].update(accelerator="cpu", epoch_log=True)
    assert json.loads(row["config"]) == expected


# --- summary ---------------------------------------------------------------------------------------------------


def test_summary_tables_counts_and_plots(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    tsm2 = {96: [0.370, 0.372, 0.374], 192: [0.400, 0.404, 0.402]}  # claim .375 / .398
    patchtst = {96: [0.376, 0.378, 0.380], 192: [0.401, 0.399, 0.400]}
    rows = []
    for model, values in (("tsm2", tsm2), ("patchtst", patchtst)):
        for horizon, mses in values.items():
            for seed, mse in zip((2021, 2022, 2023), mses):
                rows.append(fake_row(Cell("ETTh1", model, 512, horizon, seed, suite="p"), mse))
    variants = (("default", 16), ("d32", 32))
    sweep = [Cell("ETTh1", "tsm2", 512, 96, 2021, tag, "val", {"d_model": d}, "w") for tag, d in variants]
    rows += [fake_row(sweep[0], 0.66), fake_row(sweep[1], 0.60)]
    for row in rows:  # validation loss the other way round from the test MSE: lower for TSM2 at H=192 only
        row["best_val_loss"] = 0.5 if (row["model"], row["horizon"]) == ("tsm2", 192) else 0.6
    store.append(rows)
    groups = aggregate(store.rows())
    assert comparison_counts(groups) == {"claim": (1, 2), "patchtst": (1, 2), "patchtst_val": (1, 2)}
    files = write_summary(tmp_path, title="t")
    text = (tmp_path / "table.md").read_text()
    std96 = torch.tensor(tsm2[96]).std().item()
    assert f"| ETTh1 | 96 | 0.372 ± {std96:.3f} (3) | 0.378 ± 0.002 (3) | 0.375 | 0.370 |" in text
    assert "**1 of 2**" in text and "| ETTh1 | 192 |" in text and "+0.002 |" in text
    assert "recipe sweeps select on) TSM2 < PatchTST in **1 of 2** cells." in text
    assert "| ETTh | tsm2 | 512 | d32 | 0.9091 | 0.6000 | 1/1 |" in text  # 0.60 / 0.66, best first
    assert text.index("| d32 |") < text.index("| default |")
    assert "(every test window and every val window scored;" in text  # says which splits the rows scored
    assert {p.name for p in files} == {"table.md", "mse_L512.png", "tsm2_minus_patchtst_L512.png"}
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in files if p.suffix == ".png")


def test_summary_tallies_stand_apart_from_a_table_without_claims(tmp_path: Path) -> None:
    # at L=96 there is no claim column, and a tally line right under the table would render as one more table row
    store = ResultStore(tmp_path)
    store.append(
        [fake_row(Cell("ETTh1", m, 96, 96, 2021, suite="p"), mse) for m, mse in (("tsm2", 0.39), ("patchtst", 0.4))]
    )
    write_summary(tmp_path, title="t")
    lines = (tmp_path / "table.md").read_text().splitlines()
    tally = next(i for i, line in enumerate(lines) if line.startswith("TSM2 < PatchTST"))
    assert "**1 of 1**" in lines[tally] and lines[tally - 1] == "" and lines[tally - 2].startswith("| ETTh1 | 96 |")


def test_bench_without_progress_bar_prints_epoch_lines(data_dir, require_file, tmp_path: Path, one_thread) -> None:
    require_file("ETTh1.csv")
    from typer.testing import CliRunner

    from tsmamba.cli import app

    args = ["bench", "--dataset", "ETTh1", "--model", "dlinear", "--lookback", "48", "--horizons", "24"]
    args += ["--epochs", "2", "--batch-size", "512", "--data-dir", str(data_dir), "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--results", str(tmp_path / "r")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert re.findall(r"^epoch (\d)/2 train_loss", result.output, flags=re.M) == ["1", "2"]


def test_live_reporter_tracks_each_running_cell_epoch() -> None:
    import io

    from rich.console import Console

    from tsmamba.reproduce.progress import LiveReporter

    reporter = LiveReporter(2, console=Console(file=io.StringIO(), force_terminal=True, width=150))
    cell = cells(1)[0]
    reporter.launched(cell, ["0"])
    reporter.line(cell, "epoch 3/100 train_loss 0.40000 val_loss 0.60000 lr 1.0e-04 3.0s")
    task = reporter.progress.tasks[-1]
    assert (task.completed, task.total, task.description) == (3, 100, f"  gpu 0 {cell.id}")
    reporter.finished(Outcome(cell, "done", 31.0, ("0",), 0))
    reporter.close()
    assert [t.completed for t in reporter.progress.tasks] == [1]  # the cell's line is gone, the total advanced


def test_worker_fails_a_cell_whose_validation_loss_was_never_finite(monkeypatch, tmp_path: Path, capsys) -> None:
    import tsmamba.bench
    import tsmamba.data.loader
    from tsmamba.reproduce import worker

    monkeypatch.setattr(tsmamba.data.loader, "load_dataset", lambda name, data_dir=None: name)
    monkeypatch.setattr(tsmamba.bench, "prepare_splits", lambda data, lookback, horizon: None)
    monkeypatch.setattr(tsmamba.bench, "run_one", lambda *a, **k: {"best_val_loss": None, "epochs_run": 1})
    out = tmp_path / "row.jsonl"
    assert worker.main(["--cell", cells(1)[0].to_json(), "--out", str(out)]) == 2
    assert "validation loss was never finite" in capsys.readouterr().err and not out.exists()


def test_patience_replay_keeps_the_epoch_early_stopping_would_keep(tmp_path: Path) -> None:
    # benchmarks/replay_patience.py backs a figure in benchmarks/results/paper/NOTES.md: check its rule against
    # Lightning-style early stopping on a made-up loss curve (a new minimum after 3 flat epochs)
    from benchmark_scripts import load_benchmark

    replay_patience = load_benchmark("replay_patience")
    losses = [1.0, 0.8, 0.9, 0.95, 0.85, 0.7, 0.75]
    assert replay_patience.replay(losses, 3) == (1, 5)  # stops after epochs 2-4 fail to beat epoch 1
    assert replay_patience.replay(losses, 4) == (5, 7)  # waits long enough to find epoch 5, then the log ends
    assert replay_patience.replay([0.5], 3) == (0, 1)
