"""The full model and training config a cell resolves to, and whether a recorded row was run with it.

Resolution is the benchmark's (``tsmamba.bench.run_one``): dataclass defaults, the model's per-dataset
defaults, the cell's options, then the seed. A row recorded under other settings (e.g. before the model's
per-dataset defaults changed) is *stale*: resuming must not count it as this cell's result.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from tsmamba.reproduce.cell import Cell

# Where and how a cell ran, not what it computed: ignored when a recorded row is compared with its cell.
RUNTIME_KEYS = {
    "accelerator",
    "devices",
    "strategy",
    "progress_bar",
    "epoch_log",
    "log_dir",
    "data_on_device",
    "data_on_device_max_bytes",
    "eval_batch_size",
    "scan_backend",
    "execution",
    "deterministic",
    "tune_cpu_allocator",
}


def expected_config(cell: Cell) -> dict[str, dict[str, Any]]:
    """``{"model": {...}, "train": {...}}`` exactly as the benchmark will build it for this cell."""
    from tsmamba.bench import route_options
    from tsmamba.models.registry import get_model_spec, make_config
    from tsmamba.training import TrainConfig

    model_over, train_over = route_options(cell.model, cell.options)
    config = make_config(cell.model, cell.dataset, model_over)
    defaults = get_model_spec(cell.model).dataset_defaults(cell.dataset).get("train", {})
    train = TrainConfig.from_dict({**defaults, **train_over, "seed": cell.seed})
    return {"model": dataclasses.asdict(config), "train": dataclasses.asdict(train)}


def config_differences(cell: Cell, row: dict[str, Any]) -> list[str]:
    """``["model.d_model: ran 32, now 16", ...]`` for settings that differ (runtime keys ignored)."""
    recorded = row.get("config")
    recorded = json.loads(recorded) if isinstance(recorded, str) else (recorded or {})
    expected = expected_config(cell)
    differences = []
    for section in ("model", "train"):
        ran, now = recorded.get(section, {}), expected[section]
        for key in sorted(set(ran) & set(now) - RUNTIME_KEYS):
            if ran[key] != now[key]:
                differences.append(f"{section}.{key}: ran {ran[key]!r}, now {now[key]!r}")
    return differences
