"""Where TSM2's CPU training step goes at the demo's shape (L=96, H=24, 4 variates, d_model 32, batch 32, 2
threads): operators by total time over 5 profiled steps. `SelectiveScanFn` and its backward are the scans.
Figures in benchmarks/results/cpu_step_speed.md.
    python benchmarks/cpu_probes/demo_shape_profile.py [--no-channel-mixer]
"""

import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

from tsmamba.models.registry import build_model, make_config

torch.set_num_threads(2)
torch.manual_seed(0)
overrides = {"d_model": 32, "channel_mixer": "--no-channel-mixer" not in sys.argv}
model = build_model("tsm2", make_config("tsm2", dataset=None, overrides=overrides), 96, 24, 4)
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
x, y = torch.randn(32, 96, 4), torch.randn(32, 24, 4)


def step() -> None:
    opt.zero_grad(set_to_none=True)
    torch.nn.functional.mse_loss(model(x), y).backward()
    opt.step()


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
