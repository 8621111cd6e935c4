"""Releases and the pointer: versions name their content, history is bounded, a rollback goes back one."""

from __future__ import annotations

import pytest

from switchboard.domain.release import (
    MAX_HISTORY,
    NothingToRollBack,
    Release,
    ReleasePointer,
    release_version,
)

SHA = {c: c * 64 for c in "abcdef"}


def _release(n: int, sha: str = "a") -> Release:
    files = {"router.onnx": SHA[sha], "dial.json": f"{n:064x}"}
    return Release(version=release_version(files, f"2026-12-04T03:{n % 60:02d}:00+00:00"), files=files,
                   published_at="t")


def test_a_version_sorts_by_time_and_names_its_content():
    files = {"router.onnx": SHA["a"]}
    v = release_version(files, "2026-12-04T03:15:00.123+00:00")
    assert v.startswith("20261204T031500Z-") and len(v.split("-")[1]) == 12
    assert v != release_version({"router.onnx": SHA["b"]}, "2026-12-04T03:15:00.123+00:00")


def test_a_release_refuses_unknown_files_and_malformed_digests():
    with pytest.raises(ValueError, match="unknown files or malformed sha256"):
        Release(version="v", files={"../etc/passwd": SHA["a"]}, published_at="t")
    with pytest.raises(ValueError, match="malformed sha256"):
        Release(version="v", files={"router.onnx": "not-a-digest"}, published_at="t")


def test_advancing_keeps_the_history_newest_first_bounded_and_republishing_is_a_no_op():
    pointer = ReleasePointer.advanced(None, _release(0))
    for n in range(1, MAX_HISTORY + 5):
        pointer = ReleasePointer.advanced(pointer, _release(n))
    assert pointer.current == _release(MAX_HISTORY + 4)
    assert [r.files["dial.json"] for r in pointer.previous[:2]] == [f"{MAX_HISTORY + 3:064x}", f"{MAX_HISTORY + 2:064x}"]
    assert len(pointer.previous) == MAX_HISTORY
    same = _release(MAX_HISTORY + 4).model_copy(update={"version": "other-name", "published_at": "later"})
    assert ReleasePointer.advanced(pointer, same) == pointer


def test_a_rollback_goes_back_one_release_and_stops_at_the_first():
    pointer = ReleasePointer.advanced(ReleasePointer.advanced(None, _release(1)), _release(2))
    back = pointer.rolled_back()
    assert back.current == _release(1) and back.previous == []
    assert pointer.find(_release(1).version) == _release(1) and pointer.find("nope") is None
    with pytest.raises(NothingToRollBack, match="nothing to roll back to"):
        back.rolled_back()
