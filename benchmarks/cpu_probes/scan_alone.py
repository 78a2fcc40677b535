"""Selective scan alone on the CPU (torch path, 2 threads): forward and forward+backward at TSM2's scan shapes
(channel mixer (1344, 32, 7), both directions; token mixer (224, 32, 42); N=16, z, D, bias, softplus).
Figures in benchmarks/results/cpu_step_speed.md.    python benchmarks/cpu_probes/scan_alone.py
"""

import time

import torch
from tsmamba.kernels import selective_scan

torch.set_num_threads(2)


def bench(f, n=10):
    f()
    f()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return 1e3 * min(ts)


for b, d, L, N, rev in [(1344, 32, 7, 16, False), (1344, 32, 7, 16, True), (224, 32, 42, 16, False)]:
    g = torch.Generator().manual_seed(0)
    u = torch.randn(b, d, L, requires_grad=True)
    delta = torch.randn(b, d, L, requires_grad=True)
    A = (-torch.rand(d, N)).requires_grad_()
    B = torch.randn(b, N, L, requires_grad=True)
    C = torch.randn(b, N, L, requires_grad=True)
    D = torch.randn(d, requires_grad=True)
    z = torch.randn(b, d, L, requires_grad=True)
    bias = torch.randn(d, requires_grad=True)

    def fwd():
        with torch.no_grad():
            return selective_scan(u, delta, A, B, C, D, z, bias, delta_softplus=True, reverse=rev, backend="torch")

    def fb():
        y = selective_scan(u, delta, A, B, C, D, z, bias, delta_softplus=True, reverse=rev, backend="torch")
        y.sum().backward()

    print((b, d, L, N, rev), f"fwd {bench(fwd):.1f} ms  fwd+bwd {bench(fb):.1f} ms")
