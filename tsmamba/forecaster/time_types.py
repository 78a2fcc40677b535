"""The dtype of the user's time column, remembered at input and restored on every output frame.

Internally timestamps are a pandas index (datetime or integer); outputs are built in pandas. Without this the
outputs would come back in pandas' default unit (a polars ``pl.Date`` as ``Datetime(us)``, a ``datetime64[s]``
as ``[us]``), and joins with the input frame would fail. ``TimeType`` records the kind (``"datetime"``,
``"date"`` or ``"int"``), the unit (``"ns"``/``"us"``/``"ms"``/``"s"``, or the integer dtype's name) and the zone,
in a form that is the same for pandas and polars and that ``save`` writes into ``config.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl

TimeKind = Literal["datetime", "date", "int"]
_POLARS_INTS = {
    "int8": pl.Int8,
    "int16": pl.Int16,
    "int32": pl.Int32,
    "int64": pl.Int64,
    "uint8": pl.UInt8,
    "uint16": pl.UInt16,
    "uint32": pl.UInt32,
    "uint64": pl.UInt64,
}


@dataclass(frozen=True)
class TimeType:
    """Kind, unit and time zone of a time column (``tz`` None: naive or integer)."""

    kind: TimeKind
    unit: str
    tz: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``config.json``."""
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> TimeType:
        """The inverse of ``to_json``."""
        return cls(value["kind"], value["unit"], value.get("tz"))


def polars_time_type(dtype: Any) -> TimeType | None:
    """The ``TimeType`` of a polars dtype; None when it is neither temporal nor an integer."""
    if dtype == pl.Date:
        return TimeType("date", "ms")
    if isinstance(dtype, pl.Datetime):
        return TimeType("datetime", dtype.time_unit or "us", dtype.time_zone)
    if dtype.is_integer():
        return TimeType("int", str(dtype).lower())
    return None


def pandas_time_type(dtype: Any) -> TimeType | None:
    """The ``TimeType`` of a pandas dtype; None when it is neither datetime64 nor an integer (object columns
    of datetimes are parsed to the default unit)."""
    if isinstance(dtype, pd.DatetimeTZDtype):
        return TimeType("datetime", dtype.unit, str(dtype.tz))
    if pd.api.types.is_datetime64_dtype(dtype):
        return TimeType("datetime", np.datetime_data(dtype)[0])
    if pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return TimeType("int", np.dtype(dtype).name)
    return None


def _pandas_dtype(time_type: TimeType) -> Any:
    if time_type.kind == "int":
        return np.dtype(time_type.unit)
    unit = "ms" if time_type.kind == "date" else time_type.unit
    return pd.DatetimeTZDtype(unit, time_type.tz) if time_type.tz else np.dtype(f"datetime64[{unit}]")


def _polars_dtype(time_type: TimeType) -> Any:
    if time_type.kind == "int":
        return _POLARS_INTS[time_type.unit]
    if time_type.kind == "date":
        return pl.Date
    return pl.Datetime(time_type.unit, time_type.tz)  # type: ignore[arg-type]


def restore(pdf: pd.DataFrame, columns: list[str], time_type: TimeType | None, backend: str) -> Any:
    """``pdf`` in ``backend`` with its time ``columns`` cast back to ``time_type`` (None: left as built)."""
    present = [c for c in columns if c in pdf.columns]
    if time_type is None:
        return pl.from_pandas(pdf) if backend == "polars" else pdf
    if backend == "polars":
        out = pl.from_pandas(pdf)
        return out.with_columns([pl.col(c).cast(_polars_dtype(time_type)) for c in present])
    pdf = pdf.copy()
    for c in present:
        pdf[c] = pdf[c].astype(_pandas_dtype(time_type))
    return pdf
