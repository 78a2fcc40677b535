"""What the CPU scan probes share: a best-of-n timer and the selective scan's random inputs."""

import time

import torch


def min_ms(f, n: int = 10) -> float:
    """Best of ``n`` timed calls after two warm-up calls, in milliseconds."""
    f()
    f()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return 1e3 * min(ts)


def scan_inputs(b: int, d: int, L: int, N: int, requires_grad: bool = False, grouped: bool = False, a_scale=1.0):
    """u, delta, A, B, C, D, z, bias of a scan with z, D and a Δ bias; B and C as (b, N, L), or (b, 1, N, L)."""
    bc = (b, 1, N, L) if grouped else (b, N, L)
    tensors = (
        torch.randn(b, d, L),
        torch.randn(b, d, L),
        -torch.rand(d, N) * a_scale,
        torch.randn(*bc),
        torch.randn(*bc),
        torch.randn(d),
        torch.randn(b, d, L),
        torch.randn(d),
    )
    return tuple(t.requires_grad_(requires_grad) for t in tensors)
