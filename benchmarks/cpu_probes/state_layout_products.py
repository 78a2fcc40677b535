"""The torch scan's broadcast products alone on the CPU, with N innermost ((..., dim, N), the kept state layout)
and with the channels innermost ((..., N, dim), tried in 759fa9b), at the demo's channel-mixer block (T=4,
batch 384, dim 64, N 16), 2 threads, fresh outputs as in the scan. Figures in benchmarks/results/cpu_step_speed.md.
    python benchmarks/cpu_probes/state_layout_products.py
"""

import time

import torch

torch.set_num_threads(2)
T, b, d, N = 4, 384, 64, 16


def bench(f, n=20) -> float:
    for _ in range(3):
        f()
    started = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - started) / n * 1e3


dt, dtu, dy = torch.rand(T, b, d), torch.randn(T, b, d), torch.randn(T, b, d)
A, B, C = -torch.rand(d, N), torch.randn(T, b, N), torch.randn(T, b, N)
At = A.t().contiguous()
H_dn, H_nd = torch.randn(T, b, d, N), torch.randn(T, b, N, d)
cases = {
    "decays Δ·A": (lambda: dt[..., None] * A, lambda: dt[:, :, None, :] * At),
    "inputs ΔBu (outer)": (lambda: dtu[..., None] * B[:, :, None, :], lambda: B[..., None] * dtu[:, :, None, :]),
    "adjoint seed C·dy": (lambda: dy[..., None] * C[:, :, None, :], lambda: C[..., None] * dy[:, :, None, :]),
    "dΔ part Σ_n Q·A": (lambda: (H_dn * A).sum(-1), lambda: (H_nd * At).sum(-2)),
    "y = Σ_n C·h (bmm)": (
        lambda: C.view(T * b, 1, N) @ H_dn.view(T * b, d, N).transpose(-1, -2),
        lambda: C.view(T * b, 1, N) @ H_nd.view(T * b, N, d),
    ),
}
print("| product | N innermost ms | channels innermost ms |\n|---|---|---|")
for name, (old, new) in cases.items():
    print(f"| {name} | {bench(old):.2f} | {bench(new):.2f} |")
