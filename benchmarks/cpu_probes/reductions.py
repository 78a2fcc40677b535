"""The backward's N-reductions (sum_n Q*A, sum_{t,b} Q*dt): mul+sum against strided bmm and einsum, on the CPU.
python benchmarks/cpu_probes/reductions.py
"""

import time

import torch

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


for T, b, d, N in [(42, 224, 32, 16), (7, 1344, 32, 16)]:
    M = T * b
    Q = torch.randn(T, b, d, N)
    A = torch.randn(d, N)
    dt = torch.rand(T, b, d)
    ref1 = (Q * A).sum(-1)
    ref2 = (Q * dt[..., None]).sum((0, 1))
    Qv = Q.view(M, d, N).permute(1, 0, 2)  # (d, M, N) strided
    f1 = lambda: torch.bmm(Qv, A.view(d, N, 1))  # (d, M, 1)
    f2 = lambda: torch.bmm(dt.view(M, d).t().unsqueeze(1), Qv)  # (d,1,N)
    print(
        (T, b, d, N),
        f"QA mul+sum {bench(lambda: (Q * A).sum(-1)):.2f}",
        f"bmm {bench(f1):.2f}",
        "err",
        (f1().squeeze(-1).t().reshape(T, b, d) - ref1).abs().max().item(),
    )
    print(
        f"   Qdt mul+sum {bench(lambda: (Q * dt[..., None]).sum((0, 1))):.2f}",
        f"bmm {bench(f2):.2f}",
        "err",
        (f2().squeeze(1) - ref2).abs().max().item(),
        f"einsum {bench(lambda: torch.einsum('tbdn,dn->tbd', Q, A)):.2f}",
        f"{bench(lambda: torch.einsum('tbdn,tbd->dn', Q, dt)):.2f}",
    )
    print(f"   mul_ pass {bench(lambda: Q.mul_(1.0000001)):.2f}")
