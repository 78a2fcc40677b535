"""TSM2's and PatchTST's CPU training steps before and after tsmamba.cpu_allocator's mallopt, in one process
(so this VM's drift between runs cannot pose as the effect): blocks of 5 consecutive steps, 5 timed blocks,
medians; the demo's shape (L=96, H=24, 4 variates, TSM2 d_model 32) and the ETTh1 shape (L=336, H=96, 7 variates,
ETTh1 defaults), batch 32, 2 threads. Figures in benchmarks/results/cpu_step_speed.md.
    python benchmarks/cpu_probes/malloc_tuning_step.py
"""

import statistics
import sys
import time
from pathlib import Path

import torch

from tsmamba.cpu_allocator import tune_cpu_allocator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cpu_step_speed import make_steps  # noqa: E402  (the benchmark's own step)

torch.set_num_threads(2)
SHAPES = [("demo", 96, 24, 4, None, {"d_model": 32}), ("ETTh1", 336, 96, 7, "ETTh1", {})]


def step_ms(name: str, lookback: int, horizon: int, n_vars: int, dataset, overrides) -> float:
    step = make_steps(name, lookback, horizon, n_vars, dataset, overrides)["train"]
    for _ in range(3):
        step()
    blocks = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(5):
            step()
        blocks.append((time.perf_counter() - started) / 5 * 1e3)
    return statistics.median(blocks)


results = {}
for tuned in (False, True):
    if tuned:
        print("malloc tuned:", tune_cpu_allocator())
    for label, lookback, horizon, n_vars, dataset, overrides in SHAPES:
        for name in ("tsm2", "patchtst"):
            results[tuned, label, name] = step_ms(
                name, lookback, horizon, n_vars, dataset, overrides if name == "tsm2" else {}
            )
print("| shape | model | glibc defaults ms | tuned ms | tuned/defaults |\n|---|---|---|---|---|")
for label, *_ in SHAPES:
    for name in ("tsm2", "patchtst"):
        before, after = results[False, label, name], results[True, label, name]
        print(f"| {label} | {name} | {before:.1f} | {after:.1f} | {after / before:.2f} |")
