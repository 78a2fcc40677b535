"""Find, download, verify and read the benchmark CSVs.

Lookup order for a dataset's file: ``data_dir`` argument, ``$TSMAMBA_DATA_DIR``,
the user cache (``~/.cache/tsmamba``, or ``$XDG_CACHE_HOME/tsmamba``), then a
download into the cache. Every file is verified by sha256 before it is read; a
download goes to a temporary file that is renamed only when its hash matches.
CSVs are read with polars; :func:`read_series_csv` is also the strict reader
for user-supplied files.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from tsmamba.data.cards import DatasetCard, get_card

DATA_DIR_ENV = "TSMAMBA_DATA_DIR"
DOWNLOAD_TIMEOUT_ENV = "TSMAMBA_DOWNLOAD_TIMEOUT"
DEFAULT_DOWNLOAD_TIMEOUT = 15.0  # seconds without a byte before a download gives up (connect and each read)


class DatasetNotFoundError(FileNotFoundError):
    """The dataset file is nowhere on disk and could not be downloaded."""


class ChecksumMismatchError(ValueError):
    """A file's sha256 differs from its card's (truncated, corrupted or a different version)."""


@dataclass(frozen=True)
class BenchmarkData:
    """A verified benchmark dataset: its card, file and frame (``date`` + value columns, file order)."""

    card: DatasetCard
    path: Path
    frame: pl.DataFrame

    @property
    def values(self) -> np.ndarray:
        """Value columns as a float64 array of shape (rows, variates), rows in file order."""
        return self.frame.select(self.card.columns).to_numpy().astype(np.float64, copy=False)

    @property
    def timestamps(self) -> pl.Series:
        """The parsed timestamp column."""
        return self.frame[self.card.date_column]

    @property
    def columns(self) -> list[str]:
        """Names of the value columns (variates)."""
        return list(self.card.columns)

    def to_pandas(self) -> pd.DataFrame:
        """The same frame as pandas, indexed by row position with the timestamp as a column."""
        return self.frame.to_pandas()

    def __len__(self) -> int:
        return self.frame.height


def cache_dir() -> Path:
    """The user cache folder for downloaded datasets."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tsmamba"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, card: DatasetCard) -> None:
    """Raise :class:`ChecksumMismatchError` naming both hashes unless ``path`` matches the card."""
    actual = sha256_file(path)
    if actual != card.sha256:
        raise ChecksumMismatchError(
            f"{path} does not match the {card.name} card: sha256 {actual}, expected {card.sha256}. "
            f"The file is truncated, corrupted or a different version; replace it with the canonical file "
            f"from {card.url or card.source}."
        )


def _search_dirs(data_dir: str | os.PathLike[str] | None) -> list[tuple[str, Path]]:
    dirs = []
    if data_dir is not None:
        dirs.append(("data_dir argument", Path(data_dir)))
    if os.environ.get(DATA_DIR_ENV):
        dirs.append((f"${DATA_DIR_ENV}", Path(os.environ[DATA_DIR_ENV])))
    dirs.append(("user cache", cache_dir()))
    return dirs


def download_timeout(timeout: float | None = None) -> float:
    """The download timeout in seconds: ``timeout``, else ``$TSMAMBA_DOWNLOAD_TIMEOUT``, else 15 s."""
    source = "timeout"
    if timeout is None and os.environ.get(DOWNLOAD_TIMEOUT_ENV):
        source, raw = f"${DOWNLOAD_TIMEOUT_ENV}", os.environ[DOWNLOAD_TIMEOUT_ENV]
        try:
            timeout = float(raw)
        except ValueError:
            raise ValueError(f"{source}={raw!r} is not a number of seconds; set it to e.g. 30.") from None
    value = DEFAULT_DOWNLOAD_TIMEOUT if timeout is None else timeout
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError(f"{source}={value!r} must be a positive number of seconds.")
    return float(value)


def download_file(card: DatasetCard, dest_dir: Path, timeout: float | None = None) -> Path:
    """Download ``card``'s file into ``dest_dir`` via a temporary file; keep it only if the sha256 matches.

    ``timeout`` (seconds, see :func:`download_timeout`) bounds the connection and every read, so an endpoint
    that never answers fails after that long instead of blocking.
    """
    timeout = download_timeout(timeout)
    if not card.url:
        raise DatasetNotFoundError(f"{card.name} has no direct download URL. {card.download_note or ''}".strip())
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / card.file
    fd, tmp_name = tempfile.mkstemp(prefix=f".{card.file}.", suffix=".part", dir=dest_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(card.url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
        verify_file(tmp, card)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def find_dataset_file(
    card: DatasetCard,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    timeout: float | None = None,
) -> Path:
    """Locate (or download) ``card``'s file, verified by sha256, following the documented lookup order."""
    if download:
        timeout = download_timeout(timeout)  # a bad setting is an error even when the file is on disk
    searched = []
    for label, folder in _search_dirs(data_dir):
        candidate = folder / card.file
        searched.append(f"{candidate} ({label})")
        if candidate.is_file():
            verify_file(candidate, card)
            return candidate
    reason = "downloading is disabled"
    if download and card.url:
        try:
            return download_file(card, cache_dir(), timeout)
        except (urllib.error.URLError, OSError) as exc:
            reason = (
                f"the download from {card.url} failed ({exc}; timeout {timeout:g} s, set by timeout= or "
                f"${DOWNLOAD_TIMEOUT_ENV})"
            )
    elif download:
        reason = card.download_note or "the card has no direct download URL"
    raise DatasetNotFoundError(
        f"Dataset {card.name} ({card.file}) not found; looked in: {'; '.join(searched)}. Also {reason}. "
        f"Put {card.file} in one of those folders, pass data_dir=..., or set {DATA_DIR_ENV} to the folder that "
        f"holds it (source: {card.url or card.source})."
    )


def read_series_csv(
    path: str | os.PathLike[str],
    date_column: str = "date",
    columns: Sequence[str] | None = None,
    date_format: str | None = None,
    allowed_duplicate_timestamps: Sequence[str] = (),
) -> pl.DataFrame:
    """Read a time-series CSV strictly: parsed timestamps, float64 values, clear errors for bad input.

    Rejects a missing column, an empty or non-numeric cell, an unparsable, unsorted or duplicated timestamp
    (except duplicates listed in ``allowed_duplicate_timestamps``, for canonical files that carry them).
    Gaps in time are allowed: rows are indexed by position. Returns ``date_column`` + value columns.
    """
    path = Path(path)
    raw = pl.read_csv(path, infer_schema=False)
    wanted = list(columns) if columns is not None else [c for c in raw.columns if c != date_column]
    missing = [c for c in [date_column, *wanted] if c not in raw.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {missing}; the file has {raw.columns}. "
            "Fix the header or pass the right column names."
        )
    if raw.height == 0:
        raise ValueError(f"{path}: no data rows.")
    values = raw.select([pl.col(c).str.strip_chars().cast(pl.Float64, strict=False) for c in wanted])
    for name in wanted:
        bad = ~values[name].is_finite().fill_null(False)
        if bad.any():
            row = int(bad.arg_max())
            raise ValueError(
                f"{path}: column {name!r} row {row} (data row, 0-based) holds {raw[name][row]!r}, "
                "not a finite number. Nothing is dropped or filled: fix or remove that cell."
            )
    stamps = raw[date_column].str.strip_chars()
    parsed = stamps.str.to_datetime(date_format, strict=False) if date_format else stamps.str.to_datetime(strict=False)
    if parsed.is_null().any():
        row = int(parsed.is_null().arg_max())
        raise ValueError(
            f"{path}: timestamp {stamps[row]!r} in row {row} could not be parsed"
            f"{' with format ' + repr(date_format) if date_format else ''}."
        )
    steps = parsed.diff().dt.total_microseconds()[1:]
    if (steps < 0).any():
        row = int((steps < 0).arg_max()) + 1
        raise ValueError(
            f"{path}: timestamps are not sorted: row {row} ({parsed[row]}) comes after "
            f"{parsed[row - 1]}. Sort the file by {date_column!r}."
        )
    duplicated = parsed.filter(parsed.is_duplicated()).unique().sort()
    allowed = set(pl.Series(list(allowed_duplicate_timestamps), dtype=pl.String).str.to_datetime().to_list())
    unexpected = [t for t in duplicated.to_list() if t not in allowed]
    if unexpected:
        raise ValueError(
            f"{path}: duplicate timestamp(s) {[str(t) for t in unexpected[:5]]}. "
            "Remove or aggregate the duplicated rows."
        )
    return pl.concat([parsed.rename(date_column).to_frame(), values], how="horizontal")


def load_dataset(
    name: str, data_dir: str | os.PathLike[str] | None = None, download: bool = True, timeout: float | None = None
) -> BenchmarkData:
    """Load benchmark dataset ``name`` (see :func:`tsmamba.data.cards.card_names`), verified by sha256.

    A missing file is downloaded (when its card has a URL) with ``timeout`` seconds per connection and read
    (default ``$TSMAMBA_DOWNLOAD_TIMEOUT`` or 15 s).
    """
    card = get_card(name)
    path = find_dataset_file(card, data_dir, download=download, timeout=timeout)
    frame = read_series_csv(path, card.date_column, card.columns, card.date_format, card.known_duplicate_timestamps)
    if frame.height != card.n_rows:
        raise ValueError(f"{path}: {frame.height} rows, the {card.name} card says {card.n_rows}.")
    return BenchmarkData(card=card, path=path, frame=frame)
