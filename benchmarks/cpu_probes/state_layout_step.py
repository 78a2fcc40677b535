"""TSM2's CPU training step with two torch-scan implementations in one process, interleaved: the current
``kernels/scan_torch.py`` against another version of that file (the state as (..., N, dim), tried and not kept:
``git show 759fa9b:kernels/scan_torch.py > /tmp/scan_torch_channels_inner.py``). Blocks of 5 consecutive steps per
implementation, 7 timed rounds, medians; the demo's shape (L=96, H=24, 4 variates, d_model 32) and the ETTh1 shape
(L=336, H=96, 7 variates, ETTh1 defaults), batch 32, 2 threads; ``--tune-malloc`` first applies
tsmamba.cpu_allocator, as CPU training does. Figures in benchmarks/results/cpu_step_speed.md.
    python benchmarks/cpu_probes/state_layout_step.py /tmp/scan_torch_channels_inner.py [--tune-malloc]
"""

import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch
import tsmamba.kernels.scan_torch as current

from tsmamba.cpu_allocator import tune_cpu_allocator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cpu_step_speed import make_steps  # noqa: E402  (the benchmark's own step)

torch.set_num_threads(2)
if "--tune-malloc" in sys.argv:
    print("malloc tuned:", tune_cpu_allocator())
spec = importlib.util.spec_from_file_location("scan_torch_other", sys.argv[1])
other = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = other  # dataclasses look their module up
spec.loader.exec_module(other)
IMPLS = {"current": (current.scan_forward, current.scan_backward), "other": (other.scan_forward, other.scan_backward)}
SHAPES = [("demo", 96, 24, 4, None, {"d_model": 32}), ("ETTh1", 336, 96, 7, "ETTh1", {})]


def use(name: str) -> None:
    fwd, bwd = IMPLS[name]
    current.scan_forward, current.scan_backward = fwd, bwd  # selective_scan looks them up at call time


for label, lookback, horizon, n_vars, dataset, overrides in SHAPES:
    step = make_steps("tsm2", lookback, horizon, n_vars, dataset, overrides)["train"]
    times: dict[str, list[float]] = {name: [] for name in IMPLS}
    for round_ in range(8):
        for name in IMPLS:
            use(name)
            started = time.perf_counter()
            for _ in range(5):
                step()
            if round_:  # round 0 warms up
                times[name].append((time.perf_counter() - started) / 5 * 1e3)
    cur, oth = statistics.median(times["current"]), statistics.median(times["other"])
    print(f"{label}: current {cur:.1f} ms, other {oth:.1f} ms, current/other {cur / oth:.2f}")
use("current")
