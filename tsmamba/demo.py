"""The built-in demo: fit a model (TSM2 by default) on a synthetic seasonal series, print metrics, plot.

Needs no download; the whole TSM2 demo takes under a minute on a 2-core CPU. The series, split and
evaluation follow the benchmark pipeline (70/10/20 split, train-only scaling,
every test window), and DLinear and a seasonal-naive forecast are scored beside the model
so the numbers have references.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from tsmamba.bench import split_windows
from tsmamba.data.synthetic import synthetic_series
from tsmamba.data.windows import WindowDataset
from tsmamba.evaluation import WindowMetrics, evaluate_windows
from tsmamba.models.registry import build_model, get_model_spec
from tsmamba.recipes import DEMO, resolve
from tsmamba.training import FitResult, fit_model, predict_windows


class SeasonalNaive(nn.Module):
    """Repeats the last ``period`` steps of the window: the reference any seasonal model should beat."""

    def __init__(self, period: int, horizon: int) -> None:
        super().__init__()
        self.period, self.horizon = period, horizon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reps = -(-self.horizon // self.period)
        return x[:, -self.period :].repeat(1, reps, 1)[:, : self.horizon]


@dataclass
class DemoResult:
    """Metrics of the model, of DLinear beside it and of the seasonal-naive reference, and where the plot went.

    ``dlinear`` is None when the demo's model is DLinear itself (or ``with_dlinear=False``).
    """

    model_name: str
    model: WindowMetrics
    seasonal_naive: WindowMetrics
    plot_path: Path
    epochs_run: int
    fit_seconds: float
    dlinear: WindowMetrics | None = None
    dlinear_fit_seconds: float | None = None


def run_demo(
    out: str | Path = "tsmamba_demo_forecast.png",
    n_steps: int = 3000,
    n_vars: int = 4,
    period: int = 24,
    lookback: int = 96,
    horizon: int = 24,
    max_epochs: int | None = None,
    seed: int = 0,
    progress_bar: bool = False,
    model: str = "tsm2",
    with_dlinear: bool = True,
) -> DemoResult:
    """Fit ``model`` on a synthetic multivariate seasonal series, evaluate every test window, save a plot.

    With ``with_dlinear`` (and a model other than DLinear), DLinear is fitted on the same windows too and
    scored beside it. ``max_epochs``: None keeps each model's demo recipe (``tsmamba.recipes``).
    """
    spec = get_model_spec(model)
    values = synthetic_series(n_steps, n_vars, period=period, seed=seed)
    _, scaler, train, val, test = split_windows(values, lookback, horizon, "ratio_70_10_20")

    def fit(name: str) -> FitResult:
        model_config, config = resolve(
            name,
            DEMO,
            train_overrides={
                **({} if max_epochs is None else {"max_epochs": max_epochs}),
                "seed": seed,
                "accelerator": "cpu",
                "progress_bar": progress_bar,
            },
        )
        torch.manual_seed(seed)
        return fit_model(build_model(name, model_config, lookback, horizon, n_vars), train, val, config)

    main = fit(spec.name)
    label = spec.config_cls.__name__.removesuffix("Config")
    metrics = evaluate_windows(main.model, test, scaler)
    naive = evaluate_windows(SeasonalNaive(period, horizon), test, scaler)
    path = plot_last_window(main.model, test, scaler, Path(out), label=label)
    result = DemoResult(label, metrics, naive, path, main.epochs_run, main.fit_seconds)
    if with_dlinear and spec.name != "dlinear":
        side = fit("dlinear")
        result.dlinear = evaluate_windows(side.model, test, scaler)
        result.dlinear_fit_seconds = side.fit_seconds
    return result


def plot_last_window(
    model: nn.Module, windows: WindowDataset, scaler, out: Path, max_vars: int = 4, label: str = "DLinear"
) -> Path:
    """Plot history, truth and forecast of the last test window (original scale) for up to ``max_vars`` variates."""
    last = len(windows) - 1
    x, y = windows[last]
    pred = predict_windows(model, windows, batch_size=len(windows))[last]
    x, y, pred = (np.asarray(scaler.inverse_transform(t.double().numpy())) for t in (x, y, pred))
    n = min(max_vars, x.shape[1])
    fig = Figure(figsize=(10, 2.2 * n), constrained_layout=True)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    hist_t = np.arange(-len(x), 0)
    fut_t = np.arange(len(y))
    for k, ax in enumerate(axes):
        ax.plot(hist_t, x[:, k], color="0.4", lw=1, label="history")
        ax.plot(fut_t, y[:, k], color="black", lw=1.5, label="actual")
        ax.plot(fut_t, pred[:, k], color="tab:red", lw=1.5, ls="--", label=f"{label} forecast")
        ax.axvline(-0.5, color="0.7", lw=0.8)
        ax.set_ylabel(f"x{k}")
    axes[0].legend(loc="upper left", ncols=3, fontsize=8)
    axes[0].set_title("tsmamba demo: last test window (synthetic seasonal series)")
    axes[-1].set_xlabel("steps relative to the forecast origin")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out
