"""torch.compile of TSM2's whole training step on the CPU (Inductor C++), ETTh1 shape: compile time and step time
against eager.    python benchmarks/cpu_probes/compile_step.py   (about 3 minutes of compilation)
"""

import time

import torch

from tsmamba.models.registry import build_model, make_config

torch.set_num_threads(2)
torch.manual_seed(0)
model = build_model("tsm2", make_config("tsm2", dataset="ETTh1", overrides={}), 336, 96, 7)
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
x, y = torch.randn(32, 336, 7), torch.randn(32, 96, 7)
cm = torch.compile(model, dynamic=False)


def step(m):
    model.train()
    opt.zero_grad(set_to_none=True)
    torch.nn.functional.mse_loss(m(x), y).backward()
    opt.step()


t = time.perf_counter()
step(cm)
print("first compiled step (compile) %.1f s" % (time.perf_counter() - t), flush=True)
for name, m in (("compiled", cm), ("eager", model), ("compiled", cm), ("eager", model)):
    ts = []
    for _ in range(5):
        t = time.perf_counter()
        step(m)
        ts.append(time.perf_counter() - t)
    print(name, "%.0f ms" % (1e3 * sorted(ts)[2]), flush=True)
