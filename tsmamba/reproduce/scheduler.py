"""Run cells as processes, several per GPU and across every GPU given, within a time budget.

The scheduler knows nothing of training: it asks ``launch(cell, gpus)`` for a handle (a process), polls
handles, and asks ``finish(cell, returncode)`` whether a cell that exited left its result. Cells start in the
order given (the runner sorts them longest-first, which ends a grid soonest when it all fits); a cell that needs
``k`` GPUs (DDP) waits until ``k`` different GPUs each have a free slot, and nothing behind it starts first, so it
cannot starve. With a deadline a cell starts only if its estimated duration fits in the time left (cells with no
estimate yet start), and cells still running at the deadline are stopped and reported as ``killed``, never as
results. When the cells' estimates add up to more than the slots can run before the deadline, the shortest
start first (then those without an estimate): a budget that cannot hold the grid then ends with the most cells
done, and leaves the long ones whole for a later run, instead of filling every slot with long cells that the
deadline kills while short ones wait behind them.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tsmamba.reproduce.cell import Cell

STATUSES = ("done", "failed", "killed", "no-time", "unplaceable")


class Handle(Protocol):
    """A running cell (a process): ``poll()`` is its exit code or None; ``stop()`` ends it and its children."""

    def poll(self) -> int | None: ...

    def stop(self) -> None: ...


@dataclass
class Outcome:
    """What happened to one cell in this run."""

    cell: Cell
    status: str  # one of STATUSES
    seconds: float = 0.0
    gpus: tuple[str, ...] = ()
    returncode: int | None = None


class Reporter(Protocol):
    """Receives the run's events (the terminal display or plain log lines)."""

    def launched(self, cell: Cell, gpus: Sequence[str]) -> None: ...

    def finished(self, outcome: Outcome) -> None: ...


class DurationEstimate:
    """Expected wall seconds of a cell: the mean over finished cells that match it most closely.

    Matches are tried from the most specific, (dataset, model, lookback, variant, horizon), to (dataset, model,
    lookback, variant) and then (dataset, model, lookback): a horizon's epochs and a sweep variant's schedule
    change a cell's time (PatchTST on Weather: 712 s at H=96, 439 s at H=720), so a mean over all of a model's
    cells kept cells out of budgets they fitted in. At each level the walls measured in this run (which include
    the slowdown of sharing a GPU) come first, then earlier runs' rows (fit + predict seconds + a fixed start-up
    cost). With ``on_cpu`` given, earlier rows from the other kind of device are left out (a row's ``device``
    names it: "cpu (...)" or the GPU's name): a cell trained on the CPU takes minutes that a GPU run takes
    seconds for, and would keep the GPU run's cells out of its budget.

    With ``sharing`` (per recorded cell id, the mean number of cells on its device while it ran:
    :func:`~tsmamba.reproduce.sharing.device_sharing`) and ``per_device`` (this run's cells per GPU, or CPU slots),
    an earlier row's seconds are scaled by ``per_device / sharing``: walls grow with the cells that share a device
    (a saturated GPU), and this run's cells are expected to share theirs with ``per_device - 1`` others.

    With ``cost`` (a cell's relative size, :meth:`Cell.cost` of its dataset), a cell that matches no row at all
    (a dataset not run yet) is estimated from other datasets' cells of the same model, lookback and variant (then
    model and lookback, then model): their mean seconds per unit of cost times its own cost.
    """

    def __init__(
        self,
        history: Sequence[dict[str, Any]] = (),
        startup_seconds: float = 30.0,
        on_cpu: bool | None = None,
        cost: Callable[[Cell], float] | None = None,
        sharing: Mapping[str, float] | None = None,
        per_device: int | None = None,
    ) -> None:
        self._cost = cost
        self._history: dict[tuple, list[float]] = defaultdict(list)
        self._measured: dict[tuple, list[float]] = defaultdict(list)
        for row in history:
            if on_cpu is not None and "device" in row and str(row["device"]).startswith("cpu") != on_cpu:
                continue
            try:
                seconds = float(row["fit_seconds"]) + float(row["predict_seconds"]) + startup_seconds
                shared = (sharing or {}).get(str(row.get("cell")))
                if shared and per_device:
                    seconds *= per_device / shared
                dataset, model, lookback = str(row["dataset"]), str(row["model"]).lower(), int(row["lookback"])
                variant = str(row.get("variant") or "")
                horizon = int(row["horizon"]) if "horizon" in row else None
                cell = None if horizon is None else Cell(dataset, model, lookback, horizon, 0)
            except (KeyError, TypeError, ValueError):
                continue
            for key in self._keys(dataset, model, lookback, variant, horizon):
                self._history[key].append(seconds)
            if cell is not None:
                self._add_rate(self._history, cell, variant, seconds)

    def _add_rate(self, into: dict[tuple, list[float]], cell: Cell, variant: str, seconds: float) -> None:
        """Seconds per unit of ``cost`` under the keys a cell of another dataset is scaled from."""
        if self._cost is None:
            return
        try:
            size = self._cost(cell)
        except (KeyError, ValueError):  # a dataset the cost does not know
            return
        if size > 0:
            for key in self._rate_keys(cell.model, cell.lookback, variant):
                into[key].append(seconds / size)

    @staticmethod
    def _rate_keys(model: str, lookback: int, variant: str) -> list[tuple]:
        return [("rate", model, lookback, variant), ("rate", model, lookback), ("rate", model)]

    @staticmethod
    def _keys(dataset: str, model: str, lookback: int, variant: str, horizon: int | None) -> list[tuple]:
        """Match keys from the most specific to the most general (a row without a horizon skips the first)."""
        general = (dataset, model, lookback)
        keys = [(*general, variant, horizon)] if horizon is not None else []
        return [*keys, (*general, variant), general]

    def _cell_keys(self, cell: Cell) -> list[tuple]:
        return self._keys(cell.dataset, cell.model, cell.lookback, cell.variant, cell.horizon)

    def observe(self, cell: Cell, seconds: float) -> None:
        for key in self._cell_keys(cell):
            self._measured[key].append(seconds)
        self._add_rate(self._measured, cell, cell.variant, seconds)

    def __call__(self, cell: Cell) -> float | None:
        for key in self._cell_keys(cell):
            values = self._measured.get(key) or self._history.get(key)
            if values:
                return sum(values) / len(values)
        if self._cost is None:
            return None
        for key in self._rate_keys(cell.model, cell.lookback, cell.variant):
            rates = self._measured.get(key) or self._history.get(key)
            if rates:
                try:
                    return sum(rates) / len(rates) * self._cost(cell)
                except (KeyError, ValueError):
                    return None
        return None


def slot_count(gpus: Sequence[str], per_gpu: int, cpu_slots: int) -> int:
    """Cells that run at once: ``per_gpu`` on each GPU, or ``cpu_slots`` without one."""
    return per_gpu * len(gpus) if gpus else cpu_slots


def launch_order(
    cells: Sequence[Cell], estimate: DurationEstimate, slots: int, seconds: float | None
) -> tuple[list[Cell], bool]:
    """``cells`` as given, or, when ``seconds`` of ``slots`` cannot hold their estimated times, shortest first
    (cells without an estimate last); the flag says which (see the module docstring)."""
    if seconds is None:
        return list(cells), False
    expected = {cell.id: estimate(cell) for cell in cells}
    if sum((expected[c.id] or 0.0) * c.devices for c in cells) <= slots * seconds:
        return list(cells), False
    return sorted(cells, key=lambda c: (expected[c.id] is None, expected[c.id] or 0.0)), True


class Scheduler:
    """Keeps up to ``per_gpu`` cells on each GPU (or ``cpu_slots`` cells when ``gpus`` is empty)."""

    def __init__(
        self,
        launch: Callable[[Cell, list[str]], Handle],
        finish: Callable[[Cell, int], bool],
        gpus: Sequence[str],
        per_gpu: int = 3,
        cpu_slots: int = 1,
        deadline: float | None = None,
        estimate: DurationEstimate | None = None,
        reporter: Reporter | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        poll_seconds: float = 0.5,
    ) -> None:
        if per_gpu < 1 or cpu_slots < 1:
            raise ValueError(f"per_gpu and cpu_slots must be at least 1, got {per_gpu} and {cpu_slots}.")
        self.launch, self.finish = launch, finish
        self.gpus = list(gpus)
        self.per_gpu, self.cpu_slots = per_gpu, cpu_slots
        self.deadline, self.estimate = deadline, estimate or DurationEstimate()
        self.reporter, self.clock, self.sleep, self.poll_seconds = reporter, clock, sleep, poll_seconds
        self.load: dict[str, int] = {gpu: 0 for gpu in self.gpus}
        self.cpu_load = 0
        self.shortest_first = False  # whether the last run() put the shortest cells first (a binding budget)
        self.outcomes: list[Outcome] = []  # the last run()'s outcomes so far (all of them once it returns)

    def _place(self, cell: Cell) -> list[str] | None:
        """GPUs for ``cell`` (least loaded first), ``[]`` for a CPU slot, or None when none is free now."""
        if not self.gpus:
            return [] if self.cpu_load < self.cpu_slots else None
        free = sorted((load, i, gpu) for i, (gpu, load) in enumerate(self.load.items()) if load < self.per_gpu)
        if len(free) < cell.devices:
            return None
        return [gpu for _, _, gpu in free[: cell.devices]]

    def _hold(self, gpus: Sequence[str], delta: int) -> None:
        if not self.gpus:
            self.cpu_load += delta
        for gpu in gpus:
            self.load[gpu] += delta

    def _report(self, outcome: Outcome, outcomes: list[Outcome]) -> None:
        outcomes.append(outcome)
        if self.reporter is not None:
            self.reporter.finished(outcome)

    def run(self, cells: Sequence[Cell]) -> list[Outcome]:
        """Run ``cells``; returns one outcome per cell (done, failed, killed, no-time or unplaceable)."""
        outcomes: list[Outcome] = []
        self.outcomes = outcomes
        pending = []
        for cell in cells:
            if cell.devices > max(1, len(self.gpus)) or (cell.devices > 1 and not self.gpus):
                self._report(Outcome(cell, "unplaceable"), outcomes)  # asks for more GPUs than exist
            else:
                pending.append(cell)
        running: dict[str, tuple[Cell, Handle, list[str], float]] = {}
        pending = self._order(pending, self.clock())
        try:
            self._loop(pending, running, outcomes)
        except BaseException:  # Ctrl-C or SIGTERM: never leave cells running behind the runner, and record them
            now = self.clock()
            for _, handle, _, _ in running.values():
                getattr(handle, "terminate", lambda: None)()
            for cell, handle, gpus, started in running.values():
                handle.stop()
                self._hold(gpus, -1)
                self._report(Outcome(cell, "killed", now - started, tuple(gpus)), outcomes)
            raise
        return outcomes

    def _order(self, pending: list[Cell], now: float) -> list[Cell]:
        """``pending`` in :func:`launch_order` (sets :attr:`shortest_first`)."""
        seconds = None if self.deadline is None else self.deadline - now
        slots = slot_count(self.gpus, self.per_gpu, self.cpu_slots)
        order, self.shortest_first = launch_order(pending, self.estimate, slots, seconds)
        return order

    def _loop(
        self, pending: list[Cell], running: dict[str, tuple[Cell, Handle, list[str], float]], outcomes: list[Outcome]
    ) -> None:
        while pending or running:
            now = self.clock()
            if self.deadline is not None and now >= self.deadline:
                for _, handle, _, _ in running.values():
                    getattr(handle, "terminate", lambda: None)()  # signal all first: stopping takes one grace
                for cell, handle, gpus, started in running.values():
                    handle.stop()
                    self._hold(gpus, -1)
                    self._report(Outcome(cell, "killed", now - started, tuple(gpus)), outcomes)
                running.clear()
                for cell in pending:
                    self._report(Outcome(cell, "no-time"), outcomes)
                return
            for cell_id, (cell, handle, gpus, started) in list(running.items()):
                code = handle.poll()
                if code is None:
                    continue
                del running[cell_id]
                self._hold(gpus, -1)
                seconds = self.clock() - started
                ok = code == 0 and self.finish(cell, code)
                if ok:
                    self.estimate.observe(cell, seconds)
                self._report(Outcome(cell, "done" if ok else "failed", seconds, tuple(gpus), code), outcomes)
            while pending:
                cell = pending[0]
                placed = self._place(cell)
                if placed is None:  # judged on time only once it could start: a cell finishing meanwhile
                    break  # frees its slot and refines the estimate (this run's walls come first)
                expected = self.estimate(cell)
                if self.deadline is not None and expected is not None and now + expected > self.deadline:
                    pending.pop(0)  # cannot finish in time; a shorter cell behind it may
                    self._report(Outcome(cell, "no-time"), outcomes)
                    continue
                pending.pop(0)
                self._hold(placed, +1)
                running[cell.id] = (cell, self.launch(cell, placed), placed, self.clock())
                if self.reporter is not None:
                    self.reporter.launched(cell, placed)
            if running:
                self.sleep(self.poll_seconds)
