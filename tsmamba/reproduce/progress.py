"""What the runner shows while cells run: a live rich display on a terminal, plain lines otherwise.

Plain mode (a log file, a CI job, ``--no-live``) prints one line per epoch per cell, prefixed with the cell id,
and one line per finished cell; the live display shows cells done / total, and each running cell with its
GPUs and its epoch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import TaskID

import re
import sys
import threading
from collections.abc import Sequence
from typing import IO

from tsmamba.reproduce.cell import Cell
from tsmamba.reproduce.scheduler import Outcome
from tsmamba.reproduce.worker import RESULT_PREFIX

EPOCH_LINE = re.compile(r"^epoch (\d+)(?:/(\d+))?(.*)$")


def parse_epoch(line: str) -> tuple[int, int | None, str] | None:
    """``"epoch 3/100 train_loss ..."`` -> ``(3, 100, "train_loss ...")``; None for other lines."""
    match = EPOCH_LINE.match(line.strip())
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)) if match.group(2) else None, match.group(3).strip()


def _where(gpus: Sequence[str]) -> str:
    return f"gpu {','.join(gpus)}" if gpus else "cpu"


def outcome_line(outcome: Outcome, done: int, total: int, result: str = "") -> str:
    """One line per finished cell: ``[12/60] done ETTh1-tsm2-L512-H96-s2021 (gpu 0, 184 s) test mse ...``."""
    status = outcome.status
    if status == "failed" and outcome.returncode is not None:
        status = f"failed (exit {outcome.returncode})"
    timing = f" ({_where(outcome.gpus)}, {outcome.seconds:.0f} s)" if outcome.seconds else ""
    return f"[{done}/{total}] {status} {outcome.cell.id}{timing}{(' ' + result) if result else ''}"


class PlainReporter:
    """Plain lines on a stream (thread-safe: worker output arrives on reader threads)."""

    def __init__(self, total: int, stream: IO[str] | None = None) -> None:
        self.total, self.count, self.stream = total, 0, stream or sys.stdout
        self._lock = threading.Lock()
        self._results: dict[str, str] = {}
        self._tails: dict[str, list[str]] = {}

    def _print(self, text: str) -> None:
        with self._lock:
            print(text, file=self.stream, flush=True)

    def launched(self, cell: Cell, gpus: Sequence[str]) -> None:
        self._print(f"start {cell.id} on {_where(gpus)}")

    def line(self, cell: Cell, line: str) -> None:
        tail = self._tails.setdefault(cell.id, [])
        tail.append(line)
        del tail[:-8]
        if line.startswith(RESULT_PREFIX):
            self._results[cell.id] = line[len(RESULT_PREFIX) :].strip()
        elif parse_epoch(line) is not None:
            self._print(f"{cell.id} {line.strip()}")

    def finished(self, outcome: Outcome) -> None:
        self.count += 1
        self._print(outcome_line(outcome, self.count, self.total, self._results.pop(outcome.cell.id, "")))
        tail = self._tails.pop(outcome.cell.id, [])
        if outcome.status == "failed":
            for text in tail[-5:]:
                self._print(f"  {outcome.cell.id} | {text}")

    def close(self) -> None:
        pass


class LiveReporter(PlainReporter):
    """A rich Progress display: one bar for the cells, one line per running cell (GPUs, epoch, last losses)."""

    def __init__(self, total: int, console=None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        super().__init__(total)
        self.console = console or Console()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
            transient=False,
        )
        self.overall = self.progress.add_task("cells", total=total, info="")
        self.tasks: dict[str, TaskID] = {}
        self.progress.start()

    def _print(self, text: str) -> None:
        self.progress.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def launched(self, cell: Cell, gpus: Sequence[str]) -> None:
        self.tasks[cell.id] = self.progress.add_task(f"  {_where(gpus)} {cell.id}", total=None, info="starting")

    def line(self, cell: Cell, line: str) -> None:
        task = self.tasks.get(cell.id)
        parsed = parse_epoch(line)
        if task is not None and parsed is not None:
            epoch, total, rest = parsed
            self.progress.update(task, completed=epoch, total=total, info=rest)
        tail = self._tails.setdefault(cell.id, [])
        tail.append(line)
        del tail[:-8]
        if line.startswith(RESULT_PREFIX):
            self._results[cell.id] = line[len(RESULT_PREFIX) :].strip()

    def finished(self, outcome: Outcome) -> None:
        task = self.tasks.pop(outcome.cell.id, None)
        if task is not None:
            self.progress.remove_task(task)
        self.progress.advance(self.overall)
        super().finished(outcome)

    def close(self) -> None:
        self.progress.stop()


def make_reporter(total: int, live: bool | None = None) -> PlainReporter:
    """The live display on a terminal (or when ``live`` is True), plain lines otherwise."""
    if live is None:
        live = sys.stdout.isatty()
    return LiveReporter(total) if live else PlainReporter(total)


def clock_text(seconds: float) -> str:
    """``3725`` -> ``1h02m05s``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return (f"{hours}h" if hours else "") + f"{rest // 60:02d}m{rest % 60:02d}s"
