"""Standard borders, train-only scaling, and the published test-window counts."""

from __future__ import annotations

import numpy as np
import pytest

from tsmamba.data.loader import load_dataset
from tsmamba.data.scaler import StandardScaler, fit_scaler
from tsmamba.data.splits import check_windows_fit, split_borders


def test_ett_hourly_borders() -> None:
    b = split_borders(17420, 96, "ett_hourly")
    assert (b.train, b.val, b.test) == ((0, 8640), (8544, 11520), (11424, 14400))


def test_ett_15min_borders_are_four_times_the_hourly_ones() -> None:
    b = split_borders(69680, 336, "ett_15min")
    assert (b.train, b.val, b.test) == ((0, 34560), (34224, 46080), (45744, 57600))


def test_ratio_borders_use_int_of_70_and_20_percent() -> None:
    b = split_borders(52696, 96, "ratio_70_10_20")
    n_train, n_test = int(52696 * 0.7), int(52696 * 0.2)
    assert b.train == (0, n_train)
    assert b.val == (n_train - 96, 52696 - n_test)
    assert b.test == (52696 - n_test - 96, 52696)


@pytest.mark.parametrize(
    ("n_rows", "protocol", "horizon", "expected"),
    [
        (17420, "ett_hourly", 96, 2785),
        (69680, "ett_15min", 96, 11425),
        (52696, "ratio_70_10_20", 96, 10444),
        (17420, "ett_hourly", 720, 2161),
    ],
)
def test_test_window_counts_from_the_borders(n_rows, protocol, horizon, expected) -> None:
    assert split_borders(n_rows, 96, protocol).n_windows("test", horizon) == expected


@pytest.mark.parametrize(("name", "expected"), [("ETTh1", 2785), ("ETTm1", 11425), ("Weather", 10444)])
def test_test_window_counts_on_the_real_files(name, expected, data_dir, require_file) -> None:
    data = load_dataset(name, data_dir, download=False)
    borders = split_borders(len(data), 96, data.card.split)
    assert borders.n_windows("test", 96) == expected


def test_non_positive_lookback_or_horizon_is_rejected() -> None:
    with pytest.raises(ValueError, match="lookback must be a positive"):
        split_borders(1000, 0, "ratio_70_10_20")
    with pytest.raises(ValueError, match="horizon must be a positive"):
        check_windows_fit(split_borders(1000, 24, "ratio_70_10_20"), -1)


def test_lookback_plus_horizon_longer_than_a_split_is_rejected() -> None:
    borders = split_borders(1000, 96, "ratio_70_10_20")  # val split: 100 + 96 rows
    with pytest.raises(ValueError, match=r"longer than the val split"):
        check_windows_fit(borders, 150)
    check_windows_fit(borders, 100)


def test_unknown_protocol_and_short_series_are_rejected() -> None:
    with pytest.raises(ValueError, match="Unknown split protocol"):
        split_borders(1000, 24, "random")
    with pytest.raises(ValueError, match="needs 14400 rows"):
        split_borders(5000, 24, "ett_hourly")


def test_scaler_is_fit_on_train_rows_only() -> None:
    values = np.vstack([np.random.default_rng(0).normal(5.0, 2.0, (100, 3)), np.full((50, 3), 1e6)])
    scaler = fit_scaler(values, train_end=100)
    np.testing.assert_allclose(scaler.mean, values[:100].mean(0))
    np.testing.assert_allclose(scaler.scale, values[:100].std(0))
    scaled = scaler.transform(values)
    np.testing.assert_allclose(scaled[:100].mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(scaler.inverse_transform(scaled), values)


def test_scaler_handles_torch_and_refuses_use_before_fit() -> None:
    import torch

    with pytest.raises(RuntimeError, match="not fitted"):
        StandardScaler().transform(np.zeros((2, 2)))
    scaler = StandardScaler().fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
    out = scaler.inverse_transform(torch.zeros(4, 2))
    assert torch.allclose(out, torch.tensor([[1.0, 20.0]] * 4))
