"""Windows unlike any training window (a stuck sensor, a huge step) give finite, bounded forecasts.

ETTm1's validation split holds windows whose variates 4 and 5 are constant for the whole lookback, and
windows where such a constant stretch meets one step, which RevIN turns into a sqrt(L - 1)-sigma spike
(22.6 at L=512, while no training window exceeds 8.7). TSM2 with batch-norm statistics forecast 1e30 there.
"""

from __future__ import annotations

import pytest
import torch

from tsmamba.models.dlinear import DLinearConfig, DLinearModel
from tsmamba.models.patchtst import PatchTSTConfig, PatchTSTModel
from tsmamba.models.revin import RevIN
from tsmamba.models.tsm2 import TSM2Config, TSM2Model

pytestmark = pytest.mark.usefixtures("one_thread")

LOOKBACK, HORIZON, N_VARS = 64, 8, 3
LEVEL = 0.7  # the value of the stuck variate


def small_tsm2(**overrides) -> TSM2Model:
    config = {"d_model": 16, "d_state": 8, "dropout": 0.0, "scan_backend": "torch", **overrides}
    return TSM2Model(TSM2Config(**config), LOOKBACK, HORIZON, N_VARS)


def grown(model: torch.nn.Module) -> torch.nn.Module:
    """Batch-norm statistics from unit-scale windows, then SSM projections doubled, as training grows them."""
    model.train()
    with torch.no_grad():
        model(torch.randn(16, LOOKBACK, N_VARS, generator=torch.Generator().manual_seed(3)))
        for name, parameter in model.named_parameters():
            if "ssm" in name and name.endswith("proj.weight"):
                parameter.mul_(2.0)
    return model.eval()


def windows(kind: str) -> torch.Tensor:
    x = torch.randn(4, LOOKBACK, N_VARS, generator=torch.Generator().manual_seed(1))
    if kind in ("stuck", "step"):
        x[:, :, 1] = LEVEL
    if kind == "step":
        x[:, -1, 1] = LEVEL + 2.0
    return x


def test_tsm2_forecast_is_bounded_whatever_the_input_scale() -> None:
    """Each selective mixer grows like the ~5th power of its input's scale; the default norm must cancel that."""
    torch.manual_seed(0)
    model = grown(small_tsm2(revin=False))
    x = windows("normal")
    with torch.no_grad():
        typical, huge = model(x), model(1e3 * x)
    assert torch.isfinite(huge).all()
    assert huge.abs().max() <= 10 * typical.abs().max()


def test_tsm2_step_after_a_stuck_variate_gives_a_forecast_like_a_normal_window() -> None:
    torch.manual_seed(0)
    model = grown(small_tsm2())
    with torch.no_grad():
        normal, step = model(windows("normal")), model(windows("step"))
    assert torch.isfinite(step).all()
    assert step.abs().max() <= 10 * normal.abs().max()


MODELS = {
    "tsm2": lambda: grown(small_tsm2()),
    "patchtst": lambda: PatchTSTModel(PatchTSTConfig(d_model=16, n_heads=2, d_ff=32), LOOKBACK, HORIZON, N_VARS).eval(),
    "dlinear": lambda: DLinearModel(DLinearConfig(), LOOKBACK, HORIZON, N_VARS).eval(),
}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("kind", ["stuck", "step"])
def test_every_model_keeps_a_stuck_variate_finite(name: str, kind: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name]()
    with torch.no_grad():
        forecast = model(windows(kind))
    assert torch.isfinite(forecast).all()
    if kind == "stuck" and name != "dlinear":
        # RevIN's scale of a constant variate is sqrt(eps), so its forecast stays at the constant level
        assert (forecast[:, :, 1] - LEVEL).abs().max() < 0.05


@pytest.mark.parametrize(("affine", "subtract_last"), [(False, False), (True, False), (False, True)])
def test_revin_round_trips_a_constant_variate(affine: bool, subtract_last: bool) -> None:
    revin = RevIN(N_VARS, affine=affine, subtract_last=subtract_last)
    x = windows("stuck")
    normed, stats = revin.normalize(x)
    assert torch.isfinite(normed).all()
    assert normed[:, :, 1].abs().max() < 1e-3  # nothing to normalise: no noise is blown up by 1/sqrt(eps)
    assert torch.allclose(revin.denormalize(normed, stats), x, atol=1e-5)
