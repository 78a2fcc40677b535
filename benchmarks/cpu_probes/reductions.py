"""The backward's N-reductions (sum_n Q*A, sum_{t,b} Q*dt): mul+sum against strided bmm and einsum, on the CPU.
python benchmarks/cpu_probes/reductions.py
"""

import torch
from probe_tools import min_ms

torch.set_num_threads(2)


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
        f"QA mul+sum {min_ms(lambda: (Q * A).sum(-1)):.2f}",
        f"bmm {min_ms(f1):.2f}",
        "err",
        (f1().squeeze(-1).t().reshape(T, b, d) - ref1).abs().max().item(),
    )
    print(
        f"   Qdt mul+sum {min_ms(lambda: (Q * dt[..., None]).sum((0, 1))):.2f}",
        f"bmm {min_ms(f2):.2f}",
        "err",
        (f2().squeeze(1) - ref2).abs().max().item(),
        f"einsum {min_ms(lambda: torch.einsum('tbdn,dn->tbd', Q, A)):.2f}",
        f"{min_ms(lambda: torch.einsum('tbdn,tbd->dn', Q, dt)):.2f}",
    )
    print(f"   mul_ pass {min_ms(lambda: Q.mul_(1.0000001)):.2f}")
