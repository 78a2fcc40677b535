"""Prototype: exp2 in torch, recurrence and C-contraction fused in numba, against the torch path (needs `pip install
numba`, not a project dependency).    python benchmarks/cpu_probes/numba_hybrid_forward.py
"""

import time

import numba
import numpy as np
import torch
import torch.nn.functional as F
from numba import njit, prange
from probe_tools import min_ms, scan_inputs
from tsmamba.kernels import selective_scan

torch.set_num_threads(2)
numba.set_num_threads(2)


@njit(parallel=True, fastmath=True, cache=True)
def fwd_pass(a, dtu, B, C, reverse, y):
    # a (b, d, L, N) decays; dtu (b, d, L); B, C (b, G, L, N) time-major per batch; y (b, d, L) out (pre-D, pre-gate)
    b_, d_, L, N = a.shape
    G = B.shape[1]
    per = d_ // G
    for b in prange(b_):
        h = np.empty(N, np.float32)
        for d in range(d_):
            g = d // per
            for n in range(N):
                h[n] = 0.0
            for k in range(L):
                t = L - 1 - k if reverse else k
                x = dtu[b, d, t]
                acc = np.float32(0.0)
                for n in range(N):
                    hn = a[b, d, t, n] * h[n] + x * B[b, g, t, n]
                    h[n] = hn
                    acc += hn * C[b, g, t, n]
                y[b, d, t] = acc
    return y


def fwd(u, delta, A, B, C, D, z, bias, reverse):
    dt = F.softplus(delta + bias[:, None])  # (b, d, L)
    a = torch.mul(dt[..., None], A[:, None, :] * 1.4426950408889634).exp2_()  # (b, d, L, N)
    Bt = B.transpose(-1, -2).contiguous()
    Ct = C.transpose(-1, -2).contiguous()  # (b, G, L, N)
    y = np.empty(u.shape, np.float32)
    fwd_pass(a.numpy(), (dt * u).numpy(), Bt.numpy(), Ct.numpy(), reverse, y)
    y = torch.from_numpy(y)
    return (y + D[:, None] * u) * F.silu(z)


for b, d, L, N, rev in [(1344, 32, 7, 16, True), (224, 32, 42, 16, False)]:
    u, delta, A, B, C, D, z, bias = scan_inputs(b, d, L, N, grouped=True, a_scale=4)
    f = lambda: fwd(u, delta, A, B, C, D, z, bias, rev)
    t = time.perf_counter()
    out = f()
    print("first call %.1f s" % (time.perf_counter() - t))
    ref = selective_scan(u, delta, A, B[:, 0], C[:, 0], D, z, bias, delta_softplus=True, reverse=rev, backend="torch")
    print(
        (b, d, L, N),
        "max err",
        (out - ref).abs().max().item(),
        f"hybrid fwd {min_ms(f):.2f} ms",
        "torch fwd {:.2f} ms".format(
            min_ms(
                lambda: selective_scan(
                    u, delta, A, B[:, 0], C[:, 0], D, z, bias, delta_softplus=True, reverse=rev, backend="torch"
                )
            )
        ),
    )
