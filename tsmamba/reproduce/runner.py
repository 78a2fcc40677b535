"""``tsmamba reproduce``: a suite's cells -> skip the recorded ones -> schedule the rest -> record -> summary.

Resuming is the default: a cell whose id is in ``OUT/results.jsonl`` is done and skipped, unless it was run
with other settings than the suite and the model's defaults now give (then the run stops and says which cells
and which settings differ, so a stale number never stands for the current model).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tsmamba.reproduce.cell import Cell
from tsmamba.reproduce.configs import config_differences
from tsmamba.reproduce.process import WorkerLauncher
from tsmamba.reproduce.progress import PlainReporter, make_reporter
from tsmamba.reproduce.scheduler import DurationEstimate, Handle, Outcome, Scheduler, launch_order, slot_count
from tsmamba.reproduce.sharing import device_sharing
from tsmamba.reproduce.store import ResultStore
from tsmamba.reproduce.suite import Suite


@dataclass
class Plan:
    """Which cells of a suite are recorded already and which would run, longest first."""

    done: list[Cell]
    todo: list[Cell]
    stale: dict[str, list[str]] = field(default_factory=dict)


def cell_cost(cell: Cell) -> float:
    """A cell's relative size: rows x variates of its dataset, the model's weight, the horizon."""
    from tsmamba.data.cards import get_card

    card = get_card(cell.dataset)
    return cell.cost(card.n_rows, len(card.columns) - 1)


def run_estimate(store: ResultStore, gpus: Sequence[str], per_device: int) -> DurationEstimate:
    """Cell durations as a run on ``gpus`` (none: the CPU) with ``per_device`` cells a GPU (or CPU slots)
    estimates them from ``store``'s rows, each scaled from the cells that shared its device to ``per_device``."""
    return DurationEstimate(
        store.rows(),
        on_cpu=not gpus,
        cost=cell_cost,
        sharing=device_sharing(store.events()),
        per_device=per_device,
    )


def cell_order_key(cell: Cell) -> float:
    """Longest first (see :func:`cell_cost`)."""
    return -cell_cost(cell)


def plan(suite: Suite, store: ResultStore) -> Plan:
    """Split the suite's cells into recorded and to-run; flags recorded rows run under other settings."""
    recorded = store.done()
    done, todo, stale = [], [], {}
    for cell in suite.cells:
        row = recorded.get(cell.id)
        if row is None:
            todo.append(cell)
            continue
        differences = config_differences(cell, row)
        if differences:
            stale[cell.id] = differences
        done.append(cell)
    todo.sort(key=cell_order_key)
    return Plan(done, todo, stale)


def stale_error(stale: dict[str, list[str]], store: ResultStore) -> str:
    """The message for recorded rows whose settings differ from the suite's cells."""
    examples = "; ".join(f"{cell}: {', '.join(diffs[:3])}" for cell, diffs in list(stale.items())[:3])
    return (
        f"{len(stale)} recorded cell(s) in {store.jsonl} were run with other settings than the suite now gives "
        f"({examples}). Use another --out folder, or remove those rows from {store.jsonl.name} (and results.csv) "
        "to run them again."
    )


def visible_gpus() -> list[str]:
    """GPU ids to schedule on: ``CUDA_VISIBLE_DEVICES`` if set, else every GPU torch sees (none on a CPU host)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def run_suite(
    suite: Suite,
    out: str | os.PathLike[str],
    *,
    gpus: Sequence[str] | None = None,
    per_gpu: int = 3,
    cpu_slots: int = 1,
    budget_minutes: float | None = None,
    data_dir: str | None = None,
    threads: int = 1,
    live: bool | None = None,
    execution: str | None = None,
    launch: Callable[[Cell, list[str]], Handle] | None = None,
    reporter: PlainReporter | None = None,
) -> list[Outcome]:
    """Run every cell of ``suite`` not yet recorded in ``out``; returns this run's outcomes.

    ``gpus``: ids to use (default: :func:`visible_gpus`; empty: CPU, ``cpu_slots`` cells at a time).
    ``budget_minutes``: no cell starts that is not expected to end in time; cells running at the end are
    stopped (recorded in ``runs.jsonl`` as killed, not as results). A SIGTERM or Ctrl-C stops the running cells
    the same way, logs the run with ``stopped`` and is raised again.
    ``execution``: every cell's ``TrainConfig.execution`` in this run (e.g. ``"compile-graphs"``), a runtime
    setting: rows recorded in another mode still count.
    """
    started_wall = time.monotonic()
    store = ResultStore(out)
    store.prepare()
    the_plan = plan(suite, store)
    if the_plan.stale:
        raise ValueError(stale_error(the_plan.stale, store))
    gpus = list(visible_gpus() if gpus is None else gpus)
    deadline = None if budget_minutes is None else started_wall + 60.0 * budget_minutes
    reporter = reporter or make_reporter(len(the_plan.todo), live)
    launch = launch or WorkerLauncher(
        store.cell_file, store.log_file, data_dir, threads, reporter.line, execution=execution
    )

    def finish(cell: Cell, code: int) -> bool:
        path = store.cell_file(cell.id)
        if not path.exists():
            return False
        store.collect(path)
        return True

    scheduler = Scheduler(
        launch,
        finish,
        gpus,
        per_gpu=per_gpu,
        cpu_slots=cpu_slots,
        deadline=deadline,
        estimate=run_estimate(store, gpus, per_gpu if gpus else cpu_slots),
        reporter=_Logged(reporter, store),
    )
    begin = dt.datetime.now(dt.timezone.utc)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt)  # a SIGTERM stops the cells as Ctrl-C does
    stopped: KeyboardInterrupt | None = None
    try:
        scheduler.run(the_plan.todo)
    except KeyboardInterrupt as interrupt:  # the cells it stopped are in the outcomes as killed; the run is logged
        stopped = interrupt
    finally:
        reporter.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    outcomes = scheduler.outcomes
    counts = Counter(o.status for o in outcomes)
    store.log_event(
        {
            "event": "run",
            "suite": suite.name,
            "started": begin.isoformat(timespec="seconds"),
            "wall_seconds": round(time.monotonic() - started_wall, 1),
            "budget_minutes": budget_minutes,
            "gpus": gpus,
            "per_gpu": per_gpu,
            "cpu_slots": cpu_slots,
            "host": socket.gethostname(),
            "python": platform.python_version(),
            "cells_in_suite": len(suite.cells),
            "recorded_before": len(the_plan.done),
            "order": "shortest first (the budget could not hold the cells)"
            if scheduler.shortest_first
            else "longest first",
            **{status: counts.get(status, 0) for status in ("done", "failed", "killed", "no-time", "unplaceable")},
            "stopped": None if stopped is None else str(stopped) or "interrupted",
        }
    )
    if stopped is not None:
        raise stopped
    return outcomes


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class _Logged:
    """Passes events to the reporter and writes each cell's outcome to ``runs.jsonl``."""

    def __init__(self, reporter: PlainReporter, store: ResultStore) -> None:
        self.reporter, self.store = reporter, store

    def launched(self, cell: Cell, gpus: Sequence[str]) -> None:
        self.reporter.launched(cell, gpus)

    def finished(self, outcome: Outcome) -> None:
        self.store.log_event(
            {
                "event": "cell",
                "cell": outcome.cell.id,
                "status": outcome.status,
                "seconds": round(outcome.seconds, 1),
                "gpus": list(outcome.gpus),
                "returncode": outcome.returncode,
                "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            }
        )
        self.reporter.finished(outcome)


def describe_plan(
    the_plan: Plan,
    out: Path,
    *,
    gpus: Sequence[str] | None = None,
    per_gpu: int = 3,
    cpu_slots: int = 1,
    budget_minutes: float | None = None,
) -> str:
    """The ``--dry-run`` listing: every cell, recorded or to run, in the order a run with these options would
    launch them, with each cell's estimated duration (as the run estimates it, from the folder's rows)."""
    gpus = list(visible_gpus() if gpus is None else gpus)
    estimate = run_estimate(ResultStore(out), gpus, per_gpu if gpus else cpu_slots)
    seconds = None if budget_minutes is None else 60.0 * budget_minutes
    todo, shortest_first = launch_order(the_plan.todo, estimate, slot_count(gpus, per_gpu, cpu_slots), seconds)
    why = f"; {budget_minutes:g} min cannot hold their estimates: shortest first" if shortest_first else ""
    lines = [f"{len(the_plan.done)} recorded in {out}, {len(todo)} to run (launch order{why}):"]
    for cell in todo:
        expected = estimate(cell)
        guess = "no estimate" if expected is None else f"~{expected:.0f} s"
        where = f"{cell.devices} GPU{'s' if cell.devices > 1 else ''}" if gpus else "CPU slot"
        lines.append(f"  run   {cell.id}  ({where}, {guess})")
    lines += [f"  done  {cell.id}" + ("  STALE" if cell.id in the_plan.stale else "") for cell in the_plan.done]
    return "\n".join(lines)
