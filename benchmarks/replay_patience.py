"""Replay early stopping with another patience on a grid's logged validation losses (no training).

Each cell log of ``tsmamba reproduce`` holds one ``epoch ... val_loss X`` line per epoch. For a patience P the
run would have stopped after P validations without a new minimum; if the epoch it would have kept equals the
epoch the logged run kept, the restored weights, and so the test numbers, would be the same (training up to
that epoch is unchanged). Prints one row per cell and the epochs each patience costs in total.

    python benchmarks/replay_patience.py benchmarks/results/paper_tsm2_patience10/logs --model tsm2 --patience 3 5
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

VAL = re.compile(r"epoch \d+/\d+ .*val_loss ([0-9.eE+-]+)")


def replay(losses: list[float], patience: int) -> tuple[int, int]:
    """(kept epoch, epochs run) of early stopping with ``patience`` on ``losses`` (0-based epochs)."""
    best, bad = 0, 0
    for epoch in range(1, len(losses)):
        if losses[epoch] < losses[best]:
            best, bad = epoch, 0
        else:
            bad += 1
            if bad >= patience:
                return best, epoch + 1
    return best, len(losses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", type=Path, help="a results folder's logs/ (one CELL.log per cell)")
    parser.add_argument("--model", default="tsm2", help="cells whose id holds -MODEL-")
    parser.add_argument("--patience", type=int, nargs="+", default=[3, 5])
    args = parser.parse_args()
    totals = {p: 0 for p in args.patience}
    logged_total, same = 0, {p: 0 for p in args.patience}
    files = sorted(args.logs.glob(f"*-{args.model}-*.log"))
    for path in files:
        losses = [float(m.group(1)) for m in VAL.finditer(path.read_text())]
        if not losses:
            continue
        kept = min(range(len(losses)), key=losses.__getitem__)
        logged_total += len(losses)
        row = [path.stem.ljust(32), f"epochs {len(losses):3d}", f"kept {kept:2d}"]
        for p in args.patience:
            best, run = replay(losses, p)
            totals[p] += run
            same[p] += best == kept
            row.append(f"| patience {p}: kept {best:2d}, epochs {run:3d}{'' if best == kept else ' DIFFERENT'}")
        print(" ".join(row))
    print(f"{len(files)} cells, {logged_total} epochs as logged")
    for p in args.patience:
        print(f"patience {p}: same kept epoch in {same[p]}/{len(files)} cells, {totals[p]} epochs")


if __name__ == "__main__":
    main()
