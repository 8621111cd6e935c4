"""A seed taxonomy's centroids are cached by the file's bytes and the encoder's files."""

from __future__ import annotations

import json

import pytest

from switchboard.local import seed
from switchboard.local.stack import DATA_DIR


def test_the_second_load_reads_the_cache_and_an_edited_seed_is_embedded_again(tmp_path, monkeypatch):
    path = tmp_path / "taxonomy.json"
    path.write_text((DATA_DIR / "taxonomy.seed.json").read_text(encoding="utf-8"), encoding="utf-8")
    first = seed.load_taxonomy(path, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1

    def no_encoder():
        raise AssertionError("the cached centroids should have been used")

    monkeypatch.setattr("switchboard.adapters.encoder.get_encoder", no_encoder)
    assert seed.load_taxonomy(path, cache_dir=tmp_path / "cache") == first
    data = json.loads(path.read_text(encoding="utf-8"))
    data["categories"]["math"]["prompts"].append("What is 2 to the power of 10?")
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(AssertionError, match="cached"):
        seed.load_taxonomy(path, cache_dir=tmp_path / "cache")  # another file: embedded, not read from cache
