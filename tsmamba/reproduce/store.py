"""The results folder of a reproduction run: one row per finished cell, appended as each cell finishes.

Layout of ``OUT/``:
- ``results.jsonl``: the record (one JSON row per cell: the benchmark's result fields plus suite, cell id,
  variant and the split that was scored); ``results.csv``: the same rows, rewritten after every append.
- ``cells/<cell>.jsonl``: a worker's row, written atomically when the cell ends, moved into the record by the
  runner (a row left there by a killed runner is picked up by the next one).
- ``logs/<cell>.log``: each cell's output (one line per epoch); ``runs.jsonl``: one line per cell outcome and
  per run (start, end, budget, GPUs, counts), so wall times can be read back.

Only the runner process appends to the record, so no lock is needed; a killed runner loses only cells in flight.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tsmamba.bench import RESULT_FIELDS

CELL_FIELDS = ["suite", "cell", "variant", "eval_split"]
FIELDS = RESULT_FIELDS + CELL_FIELDS


class ResultStore:
    """Reads and appends the rows of one output folder."""

    def __init__(self, out: str | os.PathLike[str]) -> None:
        self.out = Path(out)
        self.jsonl = self.out / "results.jsonl"
        self.csv = self.out / "results.csv"
        self.cells_dir = self.out / "cells"
        self.logs_dir = self.out / "logs"
        self.runs = self.out / "runs.jsonl"

    def prepare(self) -> None:
        """Create the folders and move any rows a killed runner left in ``cells/`` into the record."""
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.cells_dir.glob("*.jsonl")):
            self.collect(path)

    def rows(self) -> list[dict[str, Any]]:
        """Every recorded row, in order."""
        return read_jsonl(self.jsonl)

    def events(self) -> list[dict[str, Any]]:
        """Every line of ``runs.jsonl`` (cell outcomes and runs), in order."""
        return read_jsonl(self.runs)

    def done(self) -> dict[str, dict[str, Any]]:
        """Recorded rows by cell id (the last row wins if a cell was recorded twice)."""
        return {row["cell"]: row for row in self.rows() if row.get("cell")}

    def cell_file(self, cell_id: str) -> Path:
        return self.cells_dir / f"{cell_id}.jsonl"

    def log_file(self, cell_id: str) -> Path:
        return self.logs_dir / f"{cell_id}.log"

    def collect(self, path: Path) -> list[dict[str, Any]]:
        """Append the rows of a worker's cell file to the record and delete the file."""
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        self.append(rows)
        path.unlink()
        return rows

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append rows to ``results.jsonl`` and rewrite ``results.csv`` from the whole record."""
        rows = list(rows)
        if not rows:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.jsonl, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps({k: row.get(k) for k in FIELDS}) + "\n" for row in rows))
            handle.flush()
            os.fsync(handle.fileno())
        self.write_csv()

    def write_csv(self) -> None:
        """``results.csv`` from ``results.jsonl`` (written to a temporary file, then renamed)."""
        tmp = self.csv.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows({k: row.get(k) for k in FIELDS} for row in self.rows())
        os.replace(tmp, self.csv)

    def log_event(self, event: dict[str, Any]) -> None:
        """Append one line to ``runs.jsonl``."""
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.runs, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(event) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of ``path`` (none if it does not exist); a line that is not JSON is named with the fix."""
    if not path.exists():
        return []
    lines = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path} line {number} is not JSON ({exc}); fix or remove it.") from exc
    return lines


def write_row_atomically(path: Path, row: dict[str, Any]) -> None:
    """Write one JSON row to ``path`` so that a reader sees either nothing or the whole row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(row) + "\n", encoding="utf-8")
    os.replace(tmp, path)
