"""Each model's training step timed in a loop of its own steps (no other model between), at both CPU shapes of
cpu_step_speed.py; run plain and under MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4000000000.
    python benchmarks/cpu_probes/own_loop_step.py
"""

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # cpu_step_speed.py
from cpu_step_speed import make_steps

torch.set_num_threads(2)
out = []
for name, args in [("etth1", (336, 96, 7, "ETTh1", {})), ("demo", (96, 24, 4, None, {"d_model": 32}))]:
    for m in ("tsm2", "patchtst"):
        s = make_steps(m, *args)
        for _ in range(3):
            s["train"]()
        ts = []
        for _ in range(7):
            t = time.perf_counter()
            s["train"]()
            ts.append(time.perf_counter() - t)
        out.append(f"{name} {m} {1e3 * statistics.median(ts):.0f} ms")
print(" | ".join(out))
