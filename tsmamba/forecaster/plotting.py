"""Plot history and forecasts per series with matplotlib; returns the Figure (nothing is shown or saved)."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from tsmamba.forecaster.frames import Columns, long_pandas, to_series_set
from tsmamba.forecaster.intervals import INTERVAL_COLUMN, interval_bounds


def plot_forecasts(
    df: Any, forecasts: Any, columns: Columns, max_history: int | None = 200, max_series: int = 8
) -> Figure:
    """One panel per series: the last ``max_history`` points of ``df`` and every forecast column.

    ``forecasts`` is a long frame from ``predict`` or ``cross_validation`` (one line per cutoff) or a wide
    ``predict(format="wide")`` frame. Prediction intervals (``<model>-lo-<level>`` / ``-hi-<level>`` columns, as
    ``predict(level=...)`` gives) are drawn as shaded bands around their model's line. Only the first
    ``max_series`` series are drawn; the title says so.
    """
    history = to_series_set(df, columns)
    fc = long_pandas(forecasts)
    if columns.id_col not in fc.columns:
        fc = fc.melt(id_vars=[columns.time_col], var_name=columns.id_col, value_name="forecast")
    reserved = {columns.id_col, columns.time_col, columns.target_col, "cutoff"}
    models = [c for c in fc.columns if c not in reserved and not INTERVAL_COLUMN.search(str(c))]
    if not models:
        raise ValueError(f"No forecast column in forecasts; columns are {list(fc.columns)}.")
    bands = {model: interval_bounds(model, list(fc.columns)) for model in models}
    shown = history.series[:max_series]
    fig = Figure(figsize=(10, 2.4 * len(shown)), layout="constrained")
    axes = fig.subplots(len(shown), 1, squeeze=False)[:, 0]
    for ax, series in zip(axes, shown, strict=True):
        m = history.series.index(series)
        start = 0 if max_history is None else max(len(history.values[m]) - max_history, 0)
        ax.plot(history.index[m][start:], history.values[m][start:], color="black", linewidth=1, label="history")
        rows = fc[fc[columns.id_col].astype(str) == str(series)]
        groups = rows.groupby("cutoff") if "cutoff" in rows.columns else [(None, rows)]
        for i, (_, part) in enumerate(groups):
            times = part[columns.time_col].to_numpy()
            for j, model in enumerate(models):
                ax.plot(times, part[model], color=f"C{j}", linewidth=1.2, label=model if i == 0 else None)
                for k, (level, lo, hi) in enumerate(bands[model]):
                    ax.fill_between(
                        times,
                        part[lo].to_numpy(dtype=float),
                        part[hi].to_numpy(dtype=float),
                        color=f"C{j}",
                        alpha=0.12 + 0.12 * k / max(len(bands[model]) - 1, 1),
                        linewidth=0,
                        label=f"{model} {level}%" if i == 0 else None,
                    )
        ax.set_title(str(series), fontsize=9)
        ax.legend(loc="upper left", fontsize=7)
    if len(history.series) > len(shown):
        fig.suptitle(f"first {len(shown)} of {len(history.series)} series (max_series={max_series})")
    return fig
