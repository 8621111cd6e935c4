"""A release: one training run's files as published, and the pointer that says which release is in force.

``switchboard publish DIR`` uploads the run's model files (the learned router, the verifier: ONNX and JSON)
and its policy files (dial, judge policy, taxonomy) to the stack's artifact bucket, each stored under its
own sha256, and writes a ``Release`` - the version and each file's sha256 - into the Policy table's release
pointer. Routers and decide functions load the version the pointer names (``adapters.releases``), check
every file against its sha256 before use and keep the last good version when that fails.
``publish --rollback`` moves the pointer back one release (``ReleasePointer.rolled_back``); the
history it keeps is bounded (``MAX_HISTORY``).

Pure data and rules: no I/O here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from pydantic import BaseModel, Field

from switchboard.domain.dial import Dial

# What a release carries, when the run has it: the ONNX models and their descriptions (loaded by the
# router and decide functions from the bucket), and the policy files (in force through the Policy and
# Taxonomy tables; kept in the release so a rollback can put them back exactly).
MODEL_FILES = ("router.onnx", "router.json", "verifier.onnx", "verifier.json", "axes.onnx")
POLICY_FILES = ("dial.json", "judges.json", "taxonomy.json")
RELEASE_FILES = MODEL_FILES + POLICY_FILES
MAX_HISTORY = 20
BLOB_PREFIX = "blobs/"  # a file's key in the artifact bucket: BLOB_PREFIX + its sha256
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class NothingToRollBack(ValueError):
    """The pointer has no earlier release to go back to."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Release(BaseModel):
    """One published training run: its version and each file's sha256 (the blob's name in the bucket)."""

    version: str
    files: dict[str, str]
    published_at: str
    source: str | None = None  # the directory it was published from (for the operator; never read back)

    def model_post_init(self, _context: object) -> None:
        bad = sorted(n for n, sha in self.files.items() if n not in RELEASE_FILES or not _SHA256.match(sha))
        if bad:
            raise ValueError(f"release {self.version}: unknown files or malformed sha256 for {bad}")

    @property
    def verifier_sha256(self) -> str | None:
        return self.files.get("verifier.onnx")

    @property
    def has_router(self) -> bool:
        return "router.onnx" in self.files and "router.json" in self.files


def release_version(files: dict[str, str], published_at: str) -> str:
    """A version that sorts by time and names the content: ``20261204T031500Z-<12 hex of the manifest>``."""
    try:
        when = dt.datetime.fromisoformat(published_at)
        stamp = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    except ValueError:
        stamp = "unversioned"
    manifest = "\n".join(f"{name} {sha}" for name, sha in sorted(files.items()))
    return f"{stamp}-{sha256_hex(manifest.encode())[:12]}"


class ReleasePointer(BaseModel):
    """The release in force and the ones before it (newest first), for ``publish --rollback``."""

    current: Release
    previous: list[Release] = Field(default_factory=list)

    @classmethod
    def advanced(cls, pointer: ReleasePointer | None, release: Release) -> ReleasePointer:
        """``release`` in force, the one it replaces first in the history (re-publishing the release in
        force changes nothing)."""
        if pointer is None:
            return cls(current=release)
        if pointer.current.files == release.files:
            return pointer
        return cls(current=release, previous=[pointer.current, *pointer.previous][:MAX_HISTORY])

    def rolled_back(self) -> ReleasePointer:
        """The release before the current one in force; the current one is dropped from the history."""
        if not self.previous:
            raise NothingToRollBack(f"release {self.current.version} is the only one published: there is "
                                    "nothing to roll back to")
        return ReleasePointer(current=self.previous[0], previous=self.previous[1:])

    def find(self, version: str) -> Release | None:
        """The release of that version, if the pointer still knows it."""
        return next((r for r in (self.current, *self.previous) if r.version == version), None)


class ShadowPolicy(BaseModel):
    """A candidate training run installed beside the live one (``publish --shadow``): routers plan every
    request with it too, record that plan in the trace, and buy nothing for it."""

    release: Release
    dial: Dial
