"""Selective scan alone on the CPU (torch path, 2 threads): forward and forward+backward at TSM2's scan shapes
(channel mixer (1344, 32, 7), both directions; token mixer (224, 32, 42); N=16, z, D, bias, softplus).
Figures in benchmarks/results/cpu_step_speed.md.    python benchmarks/cpu_probes/scan_alone.py
"""

import torch
from probe_tools import min_ms, scan_inputs
from tsmamba.kernels import selective_scan

torch.set_num_threads(2)


for b, d, L, N, rev in [(1344, 32, 7, 16, False), (1344, 32, 7, 16, True), (224, 32, 42, 16, False)]:
    u, delta, A, B, C, D, z, bias = scan_inputs(b, d, L, N, requires_grad=True)

    def fwd():
        with torch.no_grad():
            return selective_scan(u, delta, A, B, C, D, z, bias, delta_softplus=True, reverse=rev, backend="torch")

    def fb():
        y = selective_scan(u, delta, A, B, C, D, z, bias, delta_softplus=True, reverse=rev, backend="torch")
        y.sum().backward()

    print((b, d, L, N, rev), f"fwd {min_ms(fwd):.1f} ms  fwd+bwd {min_ms(fb):.1f} ms")
