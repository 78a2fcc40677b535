"""Published MSE numbers the reproduction table is read against, each with its source.

Every number is copied from the cited table; a cell a source does not give is absent (never filled in).
Horizons are 96/192/336/720. "Dropped last batch" marks numbers computed by code whose test loader dropped the
last partial batch (the Informer-era ``drop_last=True`` bug); "every window" marks re-runs that score every test
window, as this project does.
"""

from __future__ import annotations

from dataclasses import dataclass

HORIZONS = (96, 192, 336, 720)


@dataclass(frozen=True)
class PublishedRow:
    """One published series of MSEs: a label for the table, its source, and values per (dataset, horizon)."""

    key: str
    label: str
    model: str  # the model of ours it is read against
    lookback: int | None
    source: str
    mse: dict[str, tuple[float, float, float, float]]

    def value(self, dataset: str, horizon: int) -> float | None:
        values = self.mse.get(dataset)
        return None if values is None or horizon not in HORIZONS else values[HORIZONS.index(horizon)]


TSM2_CLAIM = PublishedRow(
    key="tsm2_claim",
    label="TSM2 claim (L=512)",
    model="tsm2",
    lookback=512,
    source="Behrouz, Santacatterina, Zabih 2024, MambaMixer (arXiv 2403.19888 v1), TSM2 long-horizon table, "
    "as quoted in issue 11",
    mse={
        "ETTh1": (0.375, 0.398, 0.419, 0.422),
        "ETTh2": (0.253, 0.334, 0.347, 0.401),
        "ETTm1": (0.322, 0.349, 0.366, 0.407),
        "ETTm2": (0.173, 0.230, 0.279, 0.388),
        "Weather": (0.161, 0.208, 0.252, 0.337),
    },
)

PATCHTST64 = PublishedRow(
    key="patchtst64_paper",
    label="PatchTST/64 paper (L=512, dropped last batch)",
    model="patchtst",
    lookback=512,
    source="Nie et al. 2023, A Time Series is Worth 64 Words (ICLR 2023, arXiv 2211.14730), Table 3, PatchTST/64",
    mse={
        "ETTh1": (0.370, 0.413, 0.422, 0.447),
        "ETTh2": (0.274, 0.341, 0.329, 0.379),
        "ETTm1": (0.293, 0.333, 0.369, 0.416),
        "ETTm2": (0.166, 0.223, 0.274, 0.362),
        "Weather": (0.149, 0.194, 0.245, 0.314),
    },
)

DLINEAR_PAPER = PublishedRow(
    key="dlinear_paper",
    label="DLinear paper (L=336, dropped last batch)",
    model="dlinear",
    lookback=336,
    source="Zeng et al. 2023, Are Transformers Effective for Time Series Forecasting? (AAAI 2023), DLinear at "
    "L=336, as also tabled in PatchTST's Table 3",
    mse={
        "ETTh1": (0.375, 0.405, 0.439, 0.472),
        "ETTh2": (0.289, 0.383, 0.448, 0.605),
        "ETTm1": (0.299, 0.335, 0.369, 0.425),
        "ETTm2": (0.167, 0.224, 0.281, 0.397),
        "Weather": (0.176, 0.220, 0.265, 0.323),
    },
)

_FITS_SOURCE = (
    "FITS repository README, 'Result Update' after the drop_last fix (github.com/VEWOXIC/FITS, 2023-12-25): "
    "official code and scripts re-run with every test window scored"
)

PATCHTST_EVERY_WINDOW = PublishedRow(
    key="patchtst_every_window",
    label="PatchTST re-run, every window (L=336)",
    model="patchtst",
    lookback=336,
    source=_FITS_SOURCE,
    mse={
        "ETTh1": (0.385, 0.413, 0.440, 0.456),
        "ETTh2": (0.274, 0.338, 0.367, 0.391),
        "ETTm1": (0.292, 0.330, 0.365, 0.419),
        "ETTm2": (0.163, 0.219, 0.276, 0.368),
        "Weather": (0.151, 0.195, 0.249, 0.321),
    },
)

DLINEAR_EVERY_WINDOW = PublishedRow(
    key="dlinear_every_window",
    label="DLinear re-run, every window (L=336)",
    model="dlinear",
    lookback=336,
    source=_FITS_SOURCE,
    mse={
        "ETTh1": (0.384, 0.443, 0.446, 0.504),
        "ETTh2": (0.282, 0.350, 0.414, 0.588),
        "ETTm1": (0.301, 0.335, 0.371, 0.426),
        "ETTm2": (0.171, 0.237, 0.294, 0.426),
        "Weather": (0.174, 0.217, 0.262, 0.332),
    },
)

FITS_EVERY_WINDOW = PublishedRow(
    key="fits_every_window",
    label="FITS, every window (its own lookback)",
    model="",
    lookback=None,
    source=_FITS_SOURCE,
    mse={
        "ETTh1": (0.375, 0.407, 0.430, 0.427),
        "ETTh2": (0.271, 0.331, 0.354, 0.378),
        "ETTm1": (0.309, 0.338, 0.366, 0.414),
        "ETTm2": (0.163, 0.217, 0.268, 0.349),
        "Weather": (0.144, 0.188, 0.238, 0.308),
    },
)

# The rows the L=512 paper table shows, in column order.
PUBLISHED = (TSM2_CLAIM, PATCHTST64, DLINEAR_PAPER, PATCHTST_EVERY_WINDOW, DLINEAR_EVERY_WINDOW, FITS_EVERY_WINDOW)
