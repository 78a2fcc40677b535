"""How many cells shared a device with each finished cell, read back from ``runs.jsonl``.

A cell's wall time grows with the cells beside it on its GPU (or in the CPU slots): a busy GPU time-slices
their kernels (PatchTST Weather L=96 cells on an H200: ~1.85 GPU-seconds an epoch with 5 cells and with 12).
A run's duration estimates rescale earlier walls by this count, so walls recorded under a heavy load do not keep
a lighter run's cells out of its budget.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any


def _interval(event: dict[str, Any]) -> tuple[float, float, frozenset[str]] | None:
    """(start, end, devices) of one cell event; None without a usable time and duration."""
    try:
        end = dt.datetime.fromisoformat(str(event["time"])).timestamp()
        seconds = float(event["seconds"])
    except (KeyError, TypeError, ValueError):
        return None
    if seconds <= 0:
        return None
    return end - seconds, end, frozenset(event.get("gpus") or ["cpu"])


def device_sharing(events: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Per finished cell id: the time-mean number of cells (itself included) on a device it ran on.

    Every cell event with a duration counts as a neighbour (done, failed or killed: each held its slot); cells
    on the CPU share the "cpu" device. A cell recorded twice keeps its last count.
    """
    cells = [(e, span) for e in events if e.get("event") == "cell" and (span := _interval(e)) is not None]
    sharing: dict[str, float] = {}
    for event, (start, end, devices) in cells:
        if event.get("status") != "done":
            continue
        overlap = 0.0
        for other, (o_start, o_end, o_devices) in cells:
            if other is not event and devices & o_devices:
                overlap += max(0.0, min(end, o_end) - max(start, o_start))
        sharing[str(event["cell"])] = 1.0 + overlap / (end - start)
    return sharing
