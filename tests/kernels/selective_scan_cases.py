"""Shared input builder and comparison helpers for the selective-scan tests (torch and Triton backends)."""

from __future__ import annotations

import torch
from torch import Tensor
from tsmamba.kernels import selective_scan_loop

# mamba_ssm's test tolerances per input dtype: (rtol, atol) for the output.
TOLERANCES = {
    torch.float32: (6e-4, 2e-3),
    torch.bfloat16: (3e-2, 5e-2),
    torch.float16: (3e-3, 5e-3),
    torch.float64: (1e-9, 1e-9),
}

GRAD_NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state")


def make_inputs(
    batch: int,
    dim: int,
    length: int,
    n_state: int,
    groups: int = 1,
    dtype: torch.dtype = torch.float32,
    use_z: bool = True,
    use_d: bool = True,
    use_bias: bool = True,
    use_h0: bool = False,
    channel_last: bool = True,
    positive_delta: bool = False,
    seed: int = 0,
    device: str = "cpu",
) -> dict:
    """Random selective-scan inputs. ``channel_last`` builds u/delta/z as transposed (batch, L, dim) views.

    ``positive_delta`` draws |delta| (for runs without softplus, where a negative Δ makes the scan grow).
    """
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape: int, scale: float = 1.0, dt: torch.dtype = dtype) -> Tensor:
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(dt).to(device)

    def seq(scale: float = 1.0, positive: bool = False) -> Tensor:
        x = rnd(batch, length, dim, scale=scale) if channel_last else rnd(batch, dim, length, scale=scale)
        x = x.abs() if positive else x
        return x.transpose(1, 2) if channel_last else x

    w = torch.float32 if dtype != torch.float64 else torch.float64
    bc_shape = (batch, n_state, length) if groups == 1 else (batch, groups, n_state, length)
    inputs = {
        "u": seq(),
        "delta": seq(0.5, positive_delta),
        "A": (-torch.rand(dim, n_state, generator=gen, dtype=torch.float64) * 2 - 0.1).to(w).to(device),
        "B": rnd(*bc_shape),
        "C": rnd(*bc_shape),
        "D": rnd(dim, dt=w) if use_d else None,
        "z": seq() if use_z else None,
        "delta_bias": rnd(dim, scale=0.3, dt=w) if use_bias else None,
        "initial_state": rnd(batch, dim, n_state, dt=w) if use_h0 else None,
    }
    return inputs


def require_grad(inputs: dict) -> list[Tensor]:
    """Turn on requires_grad for every tensor input (leaves); returns them in GRAD_NAMES order."""
    leaves = []
    for name in GRAD_NAMES:
        t = inputs[name]
        if t is not None:
            if not t.is_leaf:
                t = t.detach()
            t.requires_grad_(True)
            inputs[name] = t
            leaves.append(t)
    return leaves


def reference(
    inputs: dict, delta_softplus: bool, reverse: bool, grad_out: Tensor | None = None, grad_last: Tensor | None = None
):
    """fp64 loop output, last state and (if grad_out is given) gradients of every tensor input.

    The gradients are those of sum(out * grad_out) + sum(last * grad_last).
    """
    ref_inputs = {k: (None if v is None else v.detach().cpu().double().requires_grad_(True)) for k, v in inputs.items()}
    out, last = selective_scan_loop(
        **ref_inputs, delta_softplus=delta_softplus, reverse=reverse, return_last_state=True
    )
    grads = None
    if grad_out is not None:
        leaves = [ref_inputs[n] for n in GRAD_NAMES if ref_inputs[n] is not None]
        loss = (out * grad_out.double().cpu()).sum()
        if grad_last is not None:
            loss = loss + (last * grad_last.double().cpu()).sum()
        grads = torch.autograd.grad(loss, leaves)
    return out, last, grads


def check_against_reference(
    inputs: dict, dtype: torch.dtype, softplus: bool, reverse: bool, backend: str, seed: int = 0
) -> None:
    """Output, last state and every gradient (through both outputs) of ``backend`` vs the fp64 loop."""
    from tsmamba.kernels import selective_scan

    require_grad(inputs)
    out, last = selective_scan(
        **inputs, delta_softplus=softplus, reverse=reverse, return_last_state=True, backend=backend
    )
    assert out.dtype == inputs["u"].dtype
    assert last.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    gen = torch.Generator().manual_seed(seed + 1)
    grad_out = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    grad_last = torch.randn(last.shape, generator=gen, dtype=torch.float64)
    ref_out, ref_last, ref_grads = reference(inputs, softplus, reverse, grad_out, grad_last)
    rtol, atol = TOLERANCES[dtype]
    assert_close(out, ref_out, rtol, atol, "out")
    assert_close(last, ref_last, rtol, atol, "last state")
    leaves = [(n, inputs[n]) for n in GRAD_NAMES if inputs[n] is not None]
    loss = (out * grad_out.to(out.device, out.dtype)).sum() + (last * grad_last.to(last.device, last.dtype)).sum()
    grads = torch.autograd.grad(loss, [t for _, t in leaves])
    for (name, leaf), g, g_ref in zip(leaves, grads, ref_grads):
        assert g.dtype == leaf.dtype, f"d{name} has dtype {g.dtype}, input has {leaf.dtype}"
        r, a = grad_tolerance(name, dtype)
        # gradients summed over batch and time (A, D, delta_bias, B, C over channels) grow with the
        # number of terms: scale atol by the reference's magnitude
        scale = max(1.0, g_ref.abs().max().item())
        assert_close(g, g_ref, r, a * scale, f"d{name}")


def grad_tolerance(name: str, dtype: torch.dtype) -> tuple[float, float]:
    """mamba_ssm's gradient tolerances: du 2x, ddelta 5x rtol and 10x atol, dA 5x atol (of the output's)."""
    rtol, atol = TOLERANCES[dtype]
    if name == "u":
        return 2 * rtol, 2 * atol
    if name == "delta":
        return 5 * rtol, 10 * atol
    if name == "A":
        return rtol, 5 * atol
    return rtol, atol


def assert_close(actual: Tensor, expected: Tensor, rtol: float, atol: float, what: str) -> None:
    """allclose in float64 with a message naming the quantity and the worst error."""
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    assert a.shape == e.shape, f"{what}: shape {tuple(a.shape)} != {tuple(e.shape)}"
    ok = torch.allclose(a, e, rtol=rtol, atol=atol)
    err = (a - e).abs().max().item() if a.numel() else 0.0
    assert ok, f"{what}: max abs error {err:.3g} exceeds rtol={rtol}, atol={atol}"
