"""Does splitting the batch into k blocks (to stay in L3) speed the CPU scan? fwd+bwd for k = 1..16.
python benchmarks/cpu_probes/scan_batch_split.py
"""

import torch
from probe_tools import min_ms, scan_inputs
from tsmamba.kernels import selective_scan

torch.set_num_threads(2)


for b, d, L, N, rev in [(1344, 32, 7, 16, True), (224, 32, 42, 16, False)]:
    u, delta, A, B, C, D, z, bias = scan_inputs(b, d, L, N, requires_grad=True)
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

        res.append(f"k={k}: {min_ms(fb, 8):.1f}")
    print((b, d, L, N), " ".join(res))
