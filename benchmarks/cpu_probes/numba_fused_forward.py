"""Prototype: the whole scan forward fused in one numba prange loop, against the torch path (needs `pip install numba`,
not a project dependency).    python benchmarks/cpu_probes/numba_fused_forward.py
"""

import math
import time

import numba
import numpy as np
import torch
from numba import njit, prange
from probe_tools import min_ms, scan_inputs
from tsmamba.kernels import selective_scan

torch.set_num_threads(2)
numba.set_num_threads(2)


@njit(parallel=True, fastmath=True, cache=True)
def fwd(u, delta, A, B, C, D, z, bias, reverse, y):
    b_, d_, L = u.shape
    N = A.shape[1]
    G = B.shape[1]
    per = d_ // G
    for b in prange(b_):
        h = np.empty(N, np.float32)
        for d in range(d_):
            g = d // per
            for n in range(N):
                h[n] = 0.0
            Dd = D[d]
            bd = bias[d]
            for k in range(L):
                t = L - 1 - k if reverse else k
                r = delta[b, d, t] + bd
                dt = r if r > 20.0 else math.log1p(math.exp(r))
                ut = u[b, d, t]
                dtu = dt * ut
                acc = 0.0
                for n in range(N):
                    hn = math.exp(dt * A[d, n]) * h[n] + dtu * B[b, g, n, t]
                    h[n] = hn
                    acc += hn * C[b, g, n, t]
                zt = z[b, d, t]
                y[b, d, t] = (acc + Dd * ut) * (zt / (1.0 + math.exp(-zt)))
    return y


for b, d, L, N, rev in [(1344, 32, 7, 16, True), (224, 32, 42, 16, False)]:
    u, delta, A, B, C, D, z, bias = scan_inputs(b, d, L, N, grouped=True, a_scale=4)
    y = np.empty((b, d, L), np.float32)
    f = lambda: fwd(
        u.numpy(), delta.numpy(), A.numpy(), B.numpy(), C.numpy(), D.numpy(), z.numpy(), bias.numpy(), rev, y
    )
    t = time.perf_counter()
    f()
    print("first call %.1f s" % (time.perf_counter() - t))
    ref = selective_scan(u, delta, A, B[:, 0], C[:, 0], D, z, bias, delta_softplus=True, reverse=rev, backend="torch")
    print(
        (b, d, L, N),
        "max err",
        (torch.from_numpy(y) - ref).abs().max().item(),
        f"numba fwd {min_ms(f):.2f} ms",
        "torch fwd {:.2f} ms".format(
            min_ms(
                lambda: selective_scan(
                    u, delta, A, B[:, 0], C[:, 0], D, z, bias, delta_softplus=True, reverse=rev, backend="torch"
                )
            )
        ),
    )
