"""Run one cell in its own process: ``python -m tsmamba.reproduce.worker --cell JSON --out FILE``.

The runner starts one worker per cell with ``CUDA_VISIBLE_DEVICES`` set to the GPUs it assigned. The worker
trains with the benchmark's own code (``tsmamba.bench``), prints one line per epoch, and writes the cell's
results row to ``--out`` atomically at the end (only global rank 0 under DDP, which Lightning re-launches this
same command for). A sweep cell (``evaluate = "val"``) scores the validation windows in place of the test
windows, so choosing options never reads the test split.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path
from typing import Any

from tsmamba.reproduce.cell import Cell
from tsmamba.reproduce.store import write_row_atomically

RESULT_PREFIX = "cell result:"


def run_cell(
    cell: Cell, data_dir: str | None = None, accelerator: str | None = None, execution: str | None = None
) -> dict[str, Any]:
    """Train and score one cell; returns its results row (the benchmark's fields plus the cell's).

    ``execution`` overrides the training's execution mode (eager, CUDA graphs, torch.compile): how fast the cell
    runs, not what it computes, so a row stays the cell's result whichever mode ran it."""
    from tsmamba.bench import prepare_splits, route_options, run_one
    from tsmamba.data.loader import load_dataset

    options = {**cell.options, "train.epoch_log": True, "train.progress_bar": False}
    if accelerator is not None:
        options["train.accelerator"] = accelerator
    if execution is not None:
        options["train.execution"] = execution
    model_over, train_over = route_options(cell.model, options)
    splits = prepare_splits(load_dataset(cell.dataset, data_dir), cell.lookback, cell.horizon)
    if cell.evaluate == "val":
        splits = dataclasses.replace(splits, test=splits.val)
    row = run_one(splits, cell.model, cell.horizon, cell.seed, model_over, train_over)
    best = row.get("best_val_loss")
    if best is None or not math.isfinite(best):
        # Lightning's early stopping ends training at the first non-finite validation loss; the weights of
        # such a run are not a result of this cell, so nothing is recorded and the cell counts as failed.
        raise RuntimeError(
            f"the validation loss was never finite (training stopped after {row['epochs_run']} epoch(s)), so no "
            "result is recorded; the epoch lines above show where it became non-finite."
        )
    row.update(suite=cell.suite, cell=cell.id, variant=cell.variant, eval_split=cell.evaluate)
    return row


def _is_rank_zero() -> bool:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def result_line(row: dict[str, Any]) -> str:
    """The worker's last line, which the runner shows when the cell ends."""
    return (
        f"{RESULT_PREFIX} {row['eval_split']} mse {row['mse']:.4f} mae {row['mae']:.4f} "
        f"epochs {row['epochs_run']} fit {row['fit_seconds']:.0f}s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", required=True, help="The cell as JSON (Cell.to_json).")
    parser.add_argument("--out", required=True, type=Path, help="Where to write the results row (JSONL).")
    parser.add_argument("--data-dir", default=None, help="Folder holding the CSVs.")
    parser.add_argument("--accelerator", default=None, help="auto, cpu or gpu.")
    parser.add_argument("--execution", default=None, help="TrainConfig.execution for this run (default: the cell's).")
    args = parser.parse_args(argv)
    cell = Cell.from_json(args.cell)
    try:
        row = run_cell(cell, args.data_dir, args.accelerator, args.execution)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: cell {cell.id}: {exc}", file=sys.stderr, flush=True)
        return 2
    if _is_rank_zero():
        write_row_atomically(args.out, row)
        print(result_line(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
