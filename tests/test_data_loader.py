"""Loading: lookup order, sha256 verification, safe downloads, strict CSV reading, real-file shapes."""

from __future__ import annotations

import hashlib
import io
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from tsmamba.data import loader
from tsmamba.data.cards import get_card
from tsmamba.data.loader import (
    ChecksumMismatchError,
    DatasetNotFoundError,
    find_dataset_file,
    load_dataset,
    read_series_csv,
)

CSV = "date,a,b\n2024-01-01 00:00:00,1.0,2.0\n2024-01-01 01:00:00,3.0,4.5\n2024-01-01 02:00:00,5.0,6.0\n"


def write(tmp_path: Path, text: str, name: str = "x.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def fake_card(content: bytes, url: str | None = "https://example.invalid/toy.csv"):
    return get_card("ETTh1").__class__.from_dict(
        {
            "name": "Toy",
            "file": "toy.csv",
            "url": url,
            "source": "test",
            "n_rows": 3,
            "freq": "1h",
            "sha256": hashlib.sha256(content).hexdigest(),
            "date_column": "date",
            "date_format": "%Y-%m-%d %H:%M:%S",
            "columns": ["a", "b"],
            "target": "b",
            "split": "ratio_70_10_20",
            "description": "toy",
        }
    )


# --- strict CSV reading -------------------------------------------------------------------------------------------


def test_reads_values_and_timestamps(tmp_path: Path) -> None:
    frame = read_series_csv(write(tmp_path, CSV), columns=["a", "b"])
    assert frame.columns == ["date", "a", "b"]
    np.testing.assert_array_equal(frame.select("a", "b").to_numpy(), [[1.0, 2.0], [3.0, 4.5], [5.0, 6.0]])
    assert str(frame["date"].dtype).startswith("Datetime")


def test_missing_column_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"missing column\(s\) \['OT'\]"):
        read_series_csv(write(tmp_path, CSV), columns=["a", "OT"])


def test_non_numeric_cell_is_reported_with_row_and_column(tmp_path: Path) -> None:
    bad = CSV.replace("4.5", "n/a")
    with pytest.raises(ValueError, match=r"column 'b' row 1 .*'n/a'.*not a finite number"):
        read_series_csv(write(tmp_path, bad))


def test_empty_cell_is_not_filled(tmp_path: Path) -> None:
    bad = CSV.replace(",4.5", ",")
    with pytest.raises(ValueError, match=r"column 'b' row 1"):
        read_series_csv(write(tmp_path, bad))


def test_unsorted_timestamps_are_rejected(tmp_path: Path) -> None:
    bad = CSV.replace("2024-01-01 01:00:00", "2024-01-01 03:00:00")
    with pytest.raises(ValueError, match="not sorted"):
        read_series_csv(write(tmp_path, bad))


def test_duplicate_timestamps_are_rejected_unless_listed(tmp_path: Path) -> None:
    dup = CSV.replace("2024-01-01 02:00:00", "2024-01-01 01:00:00")
    path = write(tmp_path, dup)
    with pytest.raises(ValueError, match=r"duplicate timestamp\(s\) \['2024-01-01 01:00:00'\]"):
        read_series_csv(path)
    assert read_series_csv(path, allowed_duplicate_timestamps=["2024-01-01 01:00:00"]).height == 3


def test_unparsable_timestamp_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="could not be parsed"):
        read_series_csv(write(tmp_path, CSV.replace("2024-01-01 02:00:00", "yesterday")))


# --- finding, verifying, downloading ------------------------------------------------------------------------------


def test_lookup_order_prefers_data_dir_then_env_then_cache(tmp_path, monkeypatch, isolated_env) -> None:
    content = CSV.encode()
    card = fake_card(content)
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second, isolated_env):
        folder.mkdir(parents=True)
        (folder / "toy.csv").write_bytes(content)
    monkeypatch.setenv("TSMAMBA_DATA_DIR", str(second))
    assert find_dataset_file(card, first, download=False) == first / "toy.csv"
    assert find_dataset_file(card, None, download=False) == second / "toy.csv"
    monkeypatch.delenv("TSMAMBA_DATA_DIR")
    assert find_dataset_file(card, None, download=False) == isolated_env / "toy.csv"


def test_corrupted_file_names_both_hashes(tmp_path, isolated_env) -> None:
    card = get_card("ETTh1")
    (tmp_path / "ETTh1.csv").write_text(CSV)
    with pytest.raises(ChecksumMismatchError) as err:
        load_dataset("ETTh1", tmp_path)
    assert card.sha256 in str(err.value)
    assert hashlib.sha256(CSV.encode()).hexdigest() in str(err.value)


def test_offline_without_file_says_where_to_put_it(isolated_env, monkeypatch) -> None:
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(loader.urllib.request, "urlopen", offline)
    with pytest.raises(DatasetNotFoundError, match=r"TSMAMBA_DATA_DIR.*") as err:
        load_dataset("ETTh1")
    assert "ETTh1.csv" in str(err.value) and "download" in str(err.value)
    assert not isolated_env.exists() or not any(isolated_env.iterdir())


def test_dataset_without_url_explains_manual_download(isolated_env) -> None:
    with pytest.raises(DatasetNotFoundError, match="Autoformer"):
        load_dataset("Weather")


def test_download_is_verified_before_it_lands(isolated_env, monkeypatch) -> None:
    content = CSV.encode()
    card = fake_card(content)
    served = {"bytes": content}
    monkeypatch.setattr(loader.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(served["bytes"]))
    path = find_dataset_file(card)
    assert path == isolated_env / "toy.csv" and path.read_bytes() == content

    path.unlink()
    served["bytes"] = content[:-10]  # a truncated download
    with pytest.raises(ChecksumMismatchError):
        find_dataset_file(card)
    assert list(isolated_env.iterdir()) == []  # neither the bad file nor its temporary copy is left behind


# --- real files ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("ETTh1", (17420, 7)),
        ("ETTh2", (17420, 7)),
        ("ETTm1", (69680, 7)),
        ("ETTm2", (69680, 7)),
        ("Weather", (52696, 21)),
        ("Exchange", (7588, 8)),
        ("ILI", (966, 7)),
    ],
)
def test_real_files_load_verified(name, shape, data_dir, require_file) -> None:
    require_file(get_card(name).file)
    data = load_dataset(name, data_dir, download=False)
    assert data.values.shape == shape
    assert np.isfinite(data.values).all()
    assert data.to_pandas().shape == (shape[0], shape[1] + 1)


def test_weather_keeps_its_known_duplicate_row(data_dir, require_file) -> None:
    require_file("weather.csv")
    stamps = load_dataset("Weather", data_dir, download=False).timestamps
    assert stamps.is_duplicated().sum() == 2  # the one duplicated timestamp, kept as the published results do


def test_copied_real_file_with_one_byte_changed_is_rejected(tmp_path, data_dir, require_file) -> None:
    source = require_file("ETTh1.csv")
    shutil.copy(source, tmp_path / "ETTh1.csv")
    data = bytearray((tmp_path / "ETTh1.csv").read_bytes())
    data[-5] = ord("7") if data[-5] != ord("7") else ord("8")
    (tmp_path / "ETTh1.csv").write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError):
        load_dataset("ETTh1", tmp_path, download=False)
