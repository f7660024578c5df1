from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from index.search import SearchConfig
from service.settings import Settings


def _other_value(value: object) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return round(value / 2, 4)
    return "bm25" if value != "bm25" else "dense"


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(SearchConfig)])
def test_every_retrieval_option_is_a_setting(field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    wanted = _other_value(getattr(SearchConfig(), field))
    monkeypatch.setenv(f"VIQA_{field.upper()}", str(wanted).lower() if isinstance(wanted, bool) else str(wanted))
    assert getattr(Settings().search_config(), field) == wanted


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"VIQA_{name.upper()}" not in readme]
    assert not missing, f"README.md does not document {missing}"


def test_milvus_updates_in_place_only_on_a_server_unless_told(tmp_path: Path) -> None:
    lite = Settings(backend="milvus", index_dir=tmp_path).milvus_settings()
    server = Settings(backend="milvus", milvus_uri="http://milvus:19530").milvus_settings()
    forced = Settings(backend="milvus", index_dir=tmp_path, milvus_in_place=True).milvus_settings()
    assert lite is not None and server is not None and forced is not None
    assert (lite.in_place, server.in_place, forced.in_place) == (False, True, True)


def test_what_a_new_hnsw_graph_compares_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().dense_settings().layout(10**6)["codes"] == "sq8"
    monkeypatch.setenv("VIQA_HNSW_CODES", "float")
    assert Settings().dense_settings().layout(10**6)["codes"] == "float"
    monkeypatch.setenv("VIQA_HNSW_CODES", "pq")
    with pytest.raises(ValueError, match="hnsw_codes"):
        Settings()
