"""What Lightning's training loop adds to each step on the CPU: a tiny DLinear (L=8, H=4, one variate, batch 64,
~500 steps an epoch) trained by fit_model for 1 and for 3 epochs (the difference over the extra steps is the
per-step cost, start-up excluded) against the same steps in a bare loop (gather, zero_grad, forward, MSE,
backward, fused Adam). 1 thread, three rounds. Figures in benchmarks/results/cpu_step_speed.md.
    python benchmarks/cpu_probes/lightning_step_overhead.py
"""

import time

import numpy as np
import torch

from tsmamba.data.windows import WindowDataset
from tsmamba.models.dlinear import DLinearConfig, DLinearModel
from tsmamba.training import TrainConfig, adam, fit_model, parameter_groups

torch.set_num_threads(1)
values = np.random.default_rng(0).standard_normal((64 * 500 + 12, 1)).astype(np.float32)
train = WindowDataset(values, 8, 4, 0, len(values))
steps_per_epoch = -(-len(train) // 64)


def fitted_seconds(epochs: int) -> float:
    torch.manual_seed(0)
    model = DLinearModel(DLinearConfig(), 8, 4, 1)
    start = time.perf_counter()
    fit_model(model, train, None, TrainConfig(max_epochs=epochs, batch_size=64, learning_rate=1e-3, seed=0))
    return time.perf_counter() - start


def bare_step_ms() -> float:
    torch.manual_seed(0)
    model = DLinearModel(DLinearConfig(), 8, 4, 1)
    opt = adam(parameter_groups(model, 0.0), 1e-3)
    order = torch.randperm(len(train))
    start = time.perf_counter()
    for i in range(0, len(train), 64):
        x, y = train.gather(order[i : i + 64])
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return 1e3 * (time.perf_counter() - start) / steps_per_epoch


fitted_seconds(1)  # imports and first-call costs
for round_ in range(3):
    one, three = fitted_seconds(1), fitted_seconds(3)
    lightning = 1e3 * (three - one) / (2 * steps_per_epoch)
    bare = bare_step_ms()
    print(f"round {round_}: Lightning step {lightning:.3f} ms, bare {bare:.3f} ms, added {lightning - bare:.3f} ms")
