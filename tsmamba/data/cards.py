"""Dataset cards: one JSON file per benchmark dataset, shipped as package data.

A card says where the canonical CSV comes from (URL, sha256), what it holds
(columns, frequency, target) and which split protocol the field uses on it.
Cards live in ``datasets/`` at the repository root and are installed as
``tsmamba.dataset_cards``; in an editable install that namespace cannot be
imported, so we fall back to the ``datasets/`` folder beside the source tree.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.abc import Traversable

SPLIT_PROTOCOLS = ("ett_hourly", "ett_15min", "ratio_70_10_20")


@dataclass(frozen=True)
class DatasetCard:
    """What we know about one benchmark CSV (read from ``datasets/<name>.json``)."""

    name: str
    file: str
    url: str | None
    source: str
    sha256: str
    n_rows: int
    freq: str
    date_column: str
    date_format: str
    columns: tuple[str, ...]
    target: str
    split: str
    description: str
    known_duplicate_timestamps: tuple[str, ...] = ()
    download_note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetCard:
        """Build a card from parsed JSON, rejecting cards that miss a field or name an unknown protocol."""
        required = [
            "name",
            "file",
            "url",
            "source",
            "sha256",
            "n_rows",
            "freq",
            "date_column",
            "date_format",
            "columns",
            "target",
            "split",
            "description",
        ]
        missing = [key for key in required if key not in data]
        if missing:
            raise ValueError(f"Dataset card {data.get('name', '?')!r} misses field(s) {missing}.")
        if data["split"] not in SPLIT_PROTOCOLS:
            raise ValueError(
                f"Dataset card {data['name']!r}: unknown split protocol {data['split']!r}; "
                f"known: {', '.join(SPLIT_PROTOCOLS)}."
            )
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        values = {k: v for k, v in data.items() if k in known}
        values["columns"] = tuple(values["columns"])
        values["known_duplicate_timestamps"] = tuple(values.get("known_duplicate_timestamps", ()))
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})


def _card_files() -> list[Traversable]:
    """The card JSON files: installed package data (also inside a zip), else the repository's ``datasets/``."""
    try:
        installed = [p for p in resources.files("tsmamba.dataset_cards").iterdir() if p.name.endswith(".json")]
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, TypeError):
        installed = []
    if installed:
        return installed
    repo_dir = Path(__file__).resolve().parents[2] / "datasets"
    if repo_dir.is_dir():
        return sorted(repo_dir.glob("*.json"))
    raise FileNotFoundError(
        "No dataset cards found: neither the installed package data 'tsmamba.dataset_cards' nor "
        f"{repo_dir} exists. Reinstall tsmamba (pip install .) or run from a full checkout."
    )


@lru_cache(maxsize=1)
def _all_cards() -> dict[str, DatasetCard]:
    cards = {}
    for path in _card_files():
        card = DatasetCard.from_dict(json.loads(path.read_text(encoding="utf-8")))
        cards[card.name.lower()] = card
    return cards


def card_names() -> list[str]:
    """Names of every dataset with a card, e.g. ``['ETTh1', ..., 'Weather']``."""
    return sorted(card.name for card in _all_cards().values())


def get_card(name: str) -> DatasetCard:
    """The card of dataset ``name`` (case-insensitive); unknown names list the known ones."""
    cards = _all_cards()
    key = name.lower()
    if key not in cards:
        close = difflib.get_close_matches(key, list(cards), n=1)
        hint = f" Did you mean {cards[close[0]].name!r}?" if close else ""
        raise ValueError(f"Unknown dataset {name!r}.{hint} Known datasets: {', '.join(card_names())}.")
    return cards[key]
