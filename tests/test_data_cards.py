"""Dataset cards: all seven load, carry what the loader needs, and unknown names get a helpful error."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tsmamba.data.cards import SPLIT_PROTOCOLS, DatasetCard, card_names, get_card

EXPECTED = ["ETTh1", "ETTh2", "ETTm1", "ETTm2", "Exchange", "ILI", "Weather"]
REPO = Path(__file__).resolve().parents[1]


def test_all_seven_cards_load() -> None:
    assert card_names() == EXPECTED
    for name in EXPECTED:
        card = get_card(name)
        assert card.name == name
        assert re.fullmatch(r"[0-9a-f]{64}", card.sha256)
        assert card.target in card.columns and card.columns[-1] == "OT"
        assert card.split in SPLIT_PROTOCOLS
        assert card.url or card.download_note, f"{name}: no URL and no note on where to get the file"


def test_ett_cards_point_at_the_official_repository() -> None:
    for name in ["ETTh1", "ETTh2", "ETTm1", "ETTm2"]:
        card = get_card(name)
        assert card.url.startswith("https://raw.githubusercontent.com/zhouhaoyi/ETDataset/")
        assert card.url.endswith(f"/ETT-small/{card.file}")
    assert get_card("ETTh1").split == "ett_hourly" and get_card("ETTm2").split == "ett_15min"
    assert get_card("Weather").split == "ratio_70_10_20"


def test_lookup_is_case_insensitive() -> None:
    assert get_card("etth1") is get_card("ETTh1")
    assert get_card("WEATHER").file == "weather.csv"


def test_unknown_dataset_lists_names_and_suggests_close_match() -> None:
    with pytest.raises(ValueError, match=r"Unknown dataset 'ETTh3'.*Did you mean 'ETTh[12]'.*Known datasets: ETTh1"):
        get_card("ETTh3")


def test_card_with_unknown_protocol_is_rejected() -> None:
    data = json.loads((REPO / "datasets" / "ETTh1.json").read_text(encoding="utf-8"))
    data["split"] = "random"
    with pytest.raises(ValueError, match="unknown split protocol 'random'"):
        DatasetCard.from_dict(data)


def test_datasets_folder_is_not_a_python_package() -> None:
    assert not (REPO / "datasets" / "__init__.py").exists()
