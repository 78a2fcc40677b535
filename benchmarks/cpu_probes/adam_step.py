"""One Adam step over TSM2's and PatchTST's parameters on the CPU: the per-tensor loop (torch's CPU default), the
foreach implementation and the fused kernel that training uses (tsmamba.training.adam), interleaved in one process,
medians of 5 rounds x 30 steps, 2 threads; the CPU table's two shapes (cpu_step_speed.py). Figures in
benchmarks/results/cpu_step_speed.md.
    python benchmarks/cpu_probes/adam_step.py
"""

import statistics
import sys
import time
from pathlib import Path

import torch

from tsmamba.models.registry import build_model, make_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cpu_step_speed import SHAPES  # noqa: E402  (the benchmark's own shapes)

torch.set_num_threads(2)
for label, lookback, horizon, n_vars, dataset, overrides in SHAPES:
    for name in ("tsm2", "patchtst"):
        model = build_model(name, make_config(name, dataset=dataset, overrides=overrides.get(name, {})), lookback,
                            horizon, n_vars)  # fmt: skip
        params = [p for p in model.parameters() if p.requires_grad]
        for p in params:
            p.grad = torch.randn_like(p)
        times: dict[str, list[float]] = {"per-tensor loop": [], "foreach": [], "fused": []}
        for _ in range(5):
            for kind, options in (("per-tensor loop", {}), ("foreach", {"foreach": True}), ("fused", {"fused": True})):
                opt = torch.optim.Adam(params, lr=1e-4, **options)
                for _ in range(3):
                    opt.step()
                start = time.perf_counter()
                for _ in range(30):
                    opt.step()
                times[kind].append(1e3 * (time.perf_counter() - start) / 30)
        medians = ", ".join(f"{kind} {statistics.median(v):.3f} ms" for kind, v in times.items())
        print(f"{label}, {name}: {len(params)} tensors, {sum(p.numel() for p in params)} parameters: {medians}")
