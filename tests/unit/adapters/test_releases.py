"""A function loads the release the pointer names, verified by sha256, and keeps the last good one when a
release cannot be downloaded, does not match its digests or does not load."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from switchboard.adapters.releases import ReleaseLoader, load_directory
from switchboard.domain.release import ReleasePointer
from switchboard.service.publish import upload_release
from tests.support.fakes import InMemoryBlobs, InMemoryPolicy
from tests.support.tiny_onnx import write_run

MODELS = ["small", "big"]


@pytest.fixture
def world(tmp_path):
    blobs, policy, failures = InMemoryBlobs(), InMemoryPolicy(None), []
    packaged = write_run(tmp_path / "packaged", MODELS, [0.0, 0.0])
    loader = ReleaseLoader(policy, blobs, tmp_path / "cache", packaged=lambda: load_directory(packaged),
                           on_failure=lambda version, reason: failures.append((version, reason)), retry_s=3600)
    return tmp_path, blobs, policy, loader, failures


def _publish(tmp_path, blobs, policy, name, bias):
    release = upload_release(write_run(tmp_path / name, MODELS, bias), blobs, f"2026-12-04T03:0{len(name)}:00+00:00")
    policy.put_release(ReleasePointer.advanced(policy.release(), release), None, None, "t")
    return release


def _p_big(models) -> float:
    return models.learned.predict(np.zeros(384))["big"]


def test_without_a_release_the_packaged_models_serve(world):
    _, _, _, loader, _ = world
    current = loader.current()
    assert current.version is None and _p_big(current) == pytest.approx(0.5)
    assert loader.for_version(None) is current


def test_the_release_in_force_is_loaded_and_a_new_one_replaces_it(world):
    tmp_path, blobs, policy, loader, failures = world
    v1 = _publish(tmp_path, blobs, policy, "v1", [0.0, 2.0])
    assert loader.current().version == v1.version and _p_big(loader.current()) == pytest.approx(0.8808, abs=1e-4)
    gets = blobs.gets
    loader.current()
    assert blobs.gets == gets  # loaded once per container
    v2 = _publish(tmp_path, blobs, policy, "v22", [0.0, -2.0])
    assert loader.current().version == v2.version and _p_big(loader.current()) == pytest.approx(0.1192, abs=1e-4)
    # a request planned with v1 is still verified with v1's verifier
    assert loader.for_version(v1.version).verifier_sha256 == v1.files["verifier.onnx"]
    assert loader.for_version("unknown") is None and failures == []


@pytest.mark.parametrize("damage", ["corrupt", "missing", "not onnx"])
def test_a_corrupt_or_missing_release_is_never_loaded_and_the_last_good_one_serves(world, damage, caplog):
    tmp_path, blobs, policy, loader, failures = world
    good = _publish(tmp_path, blobs, policy, "v1", [0.0, 2.0])
    assert loader.current().version == good.version
    run = write_run(tmp_path / "bad", MODELS, [0.0, -3.0])
    if damage == "not onnx":  # its digest is right, but it is no graph: it fails to load
        (run / "router.onnx").write_bytes(b"half an upload")
    bad = upload_release(run, blobs, "2026-12-04T04:00:00+00:00")
    if damage == "corrupt":
        blobs.corrupt(bad.files["router.onnx"])
    elif damage == "missing":
        del blobs.blobs[bad.files["router.onnx"]]
    policy.put_release(ReleasePointer.advanced(policy.release(), bad), None, None, "t")
    with caplog.at_level(logging.ERROR):
        current = loader.current()
    assert current.version == good.version and _p_big(current) == pytest.approx(0.8808, abs=1e-4)
    assert failures == [(bad.version, "LearnedRouterUnavailable" if damage == "not onnx" else "BlobError")]
    assert f"release {bad.version} not loaded, keeping the last good one" in caplog.text
    loader.current()
    assert len(failures) == 1  # not retried on every request


def test_a_file_damaged_on_local_disk_is_fetched_again(world):
    tmp_path, blobs, policy, _, _ = world
    v1 = _publish(tmp_path, blobs, policy, "v1", [0.0, 2.0])
    first = ReleaseLoader(policy, blobs, tmp_path / "cache").current()
    assert first.version == v1.version
    (tmp_path / "cache" / "releases" / v1.version / "router.onnx").write_bytes(b"bit rot")
    again = ReleaseLoader(policy, blobs, tmp_path / "cache").current()  # a new container, same /tmp
    assert again.version == v1.version and _p_big(again) == pytest.approx(0.8808, abs=1e-4)
