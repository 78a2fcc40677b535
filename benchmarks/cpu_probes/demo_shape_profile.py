"""Where TSM2's CPU training step goes at the demo's shape (L=96, H=24, 4 variates, d_model 32, batch 32, 2
threads): operators by total time over 5 profiled steps. `SelectiveScanFn` and its backward are the scans.
Figures in benchmarks/results/cpu_step_speed.md.
    python benchmarks/cpu_probes/demo_shape_profile.py [--no-channel-mixer]
"""

import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cpu_step_speed import make_steps  # noqa: E402  (the benchmark's own step)

torch.set_num_threads(2)
overrides = {"d_model": 32, "channel_mixer": "--no-channel-mixer" not in sys.argv}
step = make_steps("tsm2", 96, 24, 4, None, overrides)["train"]


for _ in range(3):
    step()
started = time.perf_counter()
for _ in range(10):
    step()
print(f"step {(time.perf_counter() - started) * 100:.1f} ms (mean of 10)")
with profile(activities=[ProfilerActivity.CPU]) as prof:
    for _ in range(5):
        step()
print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=20))
