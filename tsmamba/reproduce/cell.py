"""One cell of a reproduction grid: (dataset, model, lookback, horizon, seed, variant) and how to run it.

A cell is the unit the runner schedules, resumes and records: one training run, one results row. Its id
(``ETTh1-tsm2-L512-H96-s2021`` or ``...-s2021-d32`` with a variant tag) is the key of the results file.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

EVAL_SPLITS = ("test", "val")
_TAG = re.compile(r"^[A-Za-z0-9_.-]+$")

# Relative cost of one training window for each model, for ordering cells longest-first (DLinear is a linear
# map; PatchTST and TSM2 are deep models of similar cost on these sizes).
_MODEL_COST = {"dlinear": 0.02, "patchtst": 1.0, "tsm2": 1.0}


@dataclass(frozen=True)
class Cell:
    """One run of the grid; ``options`` are flat ``--set`` style keys (``d_model``, ``train.devices`` ...)."""

    dataset: str
    model: str
    lookback: int
    horizon: int
    seed: int
    variant: str = ""  # tag of the suite variant ('' for the plain grid)
    evaluate: str = "test"  # 'test': the final number; 'val': a sweep cell that never reads the test split
    options: dict[str, Any] = field(default_factory=dict)
    suite: str = ""

    def __post_init__(self) -> None:
        if self.evaluate not in EVAL_SPLITS:
            raise ValueError(f"evaluate must be one of {EVAL_SPLITS}, got {self.evaluate!r}.")
        if self.variant and not _TAG.match(self.variant):
            raise ValueError(f"variant tag {self.variant!r} may hold only letters, digits, '_', '.' and '-'.")
        for name in ("lookback", "horizon"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive number of steps, got {getattr(self, name)}.")

    @property
    def id(self) -> str:
        """Stable key of the cell in the results file."""
        base = f"{self.dataset}-{self.model}-L{self.lookback}-H{self.horizon}-s{self.seed}"
        return f"{base}-{self.variant}" if self.variant else base

    @property
    def devices(self) -> int:
        """GPUs this cell needs (``devices`` option; a DDP cell asks for several)."""
        value = self.options.get("train.devices", self.options.get("devices", 1))
        if isinstance(value, list):
            return len(value)
        try:
            return max(1, int(value))
        except (TypeError, ValueError):
            raise ValueError(f"cell {self.id}: devices must be a number of GPUs, got {value!r}.") from None

    def cost(self, rows: int, n_vars: int) -> float:
        """A rough relative cost (training windows x variates x model weight x horizon) to order cells."""
        return rows * n_vars * _MODEL_COST.get(self.model, 1.0) * (1.0 + self.horizon / 720.0)

    def to_json(self) -> str:
        """The cell as one JSON object (what the worker process reads)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Cell:
        """Inverse of :meth:`to_json`."""
        return cls(**json.loads(text))
