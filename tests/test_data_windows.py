"""Windows by index arithmetic: counts, contents, batch gathering, no per-window copies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsmamba.data.synthetic import synthetic_frame, synthetic_series
from tsmamba.data.windows import WindowDataset


def test_window_count_and_contents() -> None:
    values = np.arange(60, dtype=np.float64).reshape(30, 2)
    ds = WindowDataset(values, lookback=5, horizon=3, start=4, end=24)
    assert len(ds) == 24 - 4 - 5 - 3 + 1
    x, y = ds[0]
    np.testing.assert_array_equal(x.numpy(), values[4:9])
    np.testing.assert_array_equal(y.numpy(), values[9:12])
    x, y = ds[len(ds) - 1]
    np.testing.assert_array_equal(y.numpy(), values[21:24])  # the last window ends exactly at `end`
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_gather_matches_single_windows_and_keeps_one_copy_of_the_rows() -> None:
    values = synthetic_series(200, 4)
    ds = WindowDataset(values, lookback=24, horizon=12, start=10, end=150)
    idx = torch.tensor([0, 7, 50, len(ds) - 1])
    x, y = ds.gather(idx)
    assert x.shape == (4, 24, 4) and y.shape == (4, 12, 4)
    for row, i in enumerate(idx.tolist()):
        assert torch.equal(x[row], ds[i][0]) and torch.equal(y[row], ds[i][1])
    assert ds.series.shape == (140, 4)  # the split's rows only, not one copy per window
    assert ds.nbytes == 140 * 4 * 4


def test_to_returns_a_view_on_the_device_without_touching_the_original() -> None:
    ds = WindowDataset(synthetic_series(100, 2), 10, 5)
    assert ds.to("cpu") is ds
    assert ds.device.type == "cpu"


def test_bad_window_inputs_are_rejected() -> None:
    values = synthetic_series(50, 2)
    with pytest.raises(ValueError, match="must be positive"):
        WindowDataset(values, 0, 5)
    with pytest.raises(ValueError, match="longer than the 50 rows"):
        WindowDataset(values, 40, 11)
    with pytest.raises(ValueError, match="time, variates"):
        WindowDataset(values[:, 0], 5, 5)
    with pytest.raises(ValueError, match="Invalid row range"):
        WindowDataset(values, 5, 5, start=30, end=20)
    bad = values.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        WindowDataset(bad, 5, 5)


def test_synthetic_series_is_seeded_seasonal_and_multivariate() -> None:
    a, b = synthetic_series(500, 3, period=24, seed=3), synthetic_series(500, 3, period=24, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, synthetic_series(500, 3, period=24, seed=4))
    lag_corr = np.corrcoef(a[24:, 0], a[:-24, 0])[0, 1]
    assert lag_corr > 0.8  # strong daily seasonality
    frame = synthetic_frame(48, 2, freq="1h")
    assert frame.columns == ["date", "x0", "x1"] and frame.height == 48
    assert frame["date"].diff().drop_nulls().unique().len() == 1
