"""Start a cell's worker process with its GPUs, stream its output to its log file, stop it on demand."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from tsmamba.reproduce.cell import Cell


class CellProcess:
    """One worker process (its own session, so that stopping it also stops DDP's re-launched ranks)."""

    def __init__(
        self, command: list[str], env: dict[str, str], log_path: Path, on_line: Callable[[str], None] | None = None
    ) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed by the reader thread
        self._log.write("$ " + " ".join(command[:4]) + " ...\n")
        self._log.flush()
        self.proc = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self._on_line = on_line
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            for line in self.proc.stdout:
                self._log.write(line)
                self._log.flush()
                if self._on_line is not None:
                    self._on_line(line.rstrip("\n"))
        finally:
            self._log.close()

    def poll(self) -> int | None:
        code = self.proc.poll()
        if code is not None:
            self._reader.join(timeout=5)  # the last lines (the result) are read before the cell counts as done
        return code

    def terminate(self) -> None:
        """SIGTERM the process group without waiting (the scheduler signals every cell first, then waits)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self, grace_seconds: float = 3.0) -> None:
        """SIGTERM the process group, then SIGKILL it if it still runs after ``grace_seconds``."""
        self.terminate()
        try:
            self.proc.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=grace_seconds)
        self._reader.join(timeout=5)


class WorkerLauncher:
    """``launch(cell, gpus)`` for the scheduler: ``python -m tsmamba.reproduce.worker`` with CUDA_VISIBLE_DEVICES."""

    def __init__(
        self,
        cell_file: Callable[[str], Path],
        log_file: Callable[[str], Path],
        data_dir: str | None = None,
        threads: int = 1,
        on_line: Callable[[Cell, str], None] | None = None,
        python: str = sys.executable,
        execution: str | None = None,
    ) -> None:
        self.cell_file, self.log_file = cell_file, log_file
        self.data_dir, self.threads, self.on_line, self.python = data_dir, threads, on_line, python
        self.execution = execution

    def command(self, cell: Cell, gpus: Sequence[str]) -> list[str]:
        command = [self.python, "-m", "tsmamba.reproduce.worker", "--cell", cell.to_json()]
        command += ["--out", str(self.cell_file(cell.id)), "--accelerator", "gpu" if gpus else "cpu"]
        if self.data_dir:
            command += ["--data-dir", str(self.data_dir)]
        if self.execution is not None:
            command += ["--execution", self.execution]
        return command

    def environment(self, gpus: Sequence[str]) -> dict[str, str]:
        env = dict(os.environ)
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)  # '' on the CPU: the cell cannot touch a GPU by accident
        env["PYTHONUNBUFFERED"] = "1"
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(self.threads)
        return env

    def __call__(self, cell: Cell, gpus: list[str]) -> CellProcess:
        on_line = None
        if self.on_line is not None:
            callback = self.on_line

            def on_line(line: str, cell: Cell = cell) -> None:
                callback(cell, line)

        return CellProcess(self.command(cell, gpus), self.environment(gpus), self.log_file(cell.id), on_line)
