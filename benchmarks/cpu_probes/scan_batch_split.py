"""Does splitting the batch into k blocks (to stay in L3) speed the CPU scan? fwd+bwd for k = 1..16.
python benchmarks/cpu_probes/scan_batch_split.py
"""

import time

import torch
from tsmamba.kernels import selective_scan

torch.set_num_threads(2)


def bench(f, n=8):
    f()
    f()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return 1e3 * min(ts)


for b, d, L, N, rev in [(1344, 32, 7, 16, True), (224, 32, 42, 16, False)]:
    u = torch.randn(b, d, L, requires_grad=True)
    delta = torch.randn(b, d, L, requires_grad=True)
    A = (-torch.rand(d, N)).requires_grad_()
    B = torch.randn(b, N, L, requires_grad=True)
    C = torch.randn(b, N, L, requires_grad=True)
    D = torch.randn(d, requires_grad=True)
    z = torch.randn(b, d, L, requires_grad=True)
    bias = torch.randn(d, requires_grad=True)
    res = []
    for k in (1, 2, 4, 8, 16):

        def fb():
            ys = [
                selective_scan(
                    u[i::k],
                    delta[i::k],
                    A,
                    B[i::k],
                    C[i::k],
                    D,
                    z[i::k],
                    bias,
                    delta_softplus=True,
                    reverse=rev,
                    backend="torch",
                )
                for i in range(k)
            ]
            sum(y.sum() for y in ys).backward()

        res.append(f"k={k}: {bench(fb):.1f}")
    print((b, d, L, N), " ".join(res))
