"""The training run's models a function uses: the release the Policy table's pointer names, loaded from
the artifact bucket (``domain.release``), or the models packaged with the function when nothing is
published that way.

- The pointer is read with the policy snapshot (``DynamoPolicy``: one read per ``cache_s``, a minute by
  default); a new version is downloaded once per container into ``cache_dir`` (Lambda's /tmp), each file
  checked against its sha256 before it is loaded.
- A version that cannot be downloaded, does not match its sha256 or does not load is never used: the
  function keeps the last good version (or the packaged models), logs why and reports it
  (``on_failure``: the ``ReleaseLoadFailed`` metric), and tries that version again after ``retry_s``.
- The decide function asks for the version a request was planned with (``for_version``), so a request in
  flight during a publish is verified with the verifier its plan was calibrated for.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from switchboard.adapters.learned import OnnxAxisHeads, OnnxLearnedRouter, OnnxVerifier, file_sha256
from switchboard.domain.release import MODEL_FILES, Release
from switchboard.ports import BlobError, BlobStore, LearnedRouterUnavailable, PolicySource, ReleaseModels

log = logging.getLogger(__name__)
KEEP_VERSIONS = 3  # loaded versions kept per container: the current one and those requests may still name


def load_directory(directory: str | Path | None, version: str | None = None) -> ReleaseModels:
    """The models of a training run's directory (the packaged layer, or a downloaded release)."""
    if not directory:
        return ReleaseModels(version=version)
    directory = Path(directory)
    learned = OnnxLearnedRouter(directory) if (directory / "router.onnx").is_file() else None
    verifier = OnnxVerifier(directory) if (directory / "verifier.onnx").is_file() else None
    axes = OnnxAxisHeads(directory) if (directory / "axes.onnx").is_file() else None
    return ReleaseModels(version=version, learned=learned, verifier=verifier, axes=axes)


class ReleaseLoader:
    """``current()`` for the router, ``for_version(v)`` for the decide function (see the module)."""

    def __init__(self, policy: PolicySource | None, blobs: BlobStore | None, cache_dir: str | Path,
                 packaged: Callable[[], ReleaseModels] = ReleaseModels,
                 on_failure: Callable[[str, str], None] | None = None, retry_s: float = 60.0) -> None:
        self._policy = policy
        self._blobs = blobs
        self._cache_dir = Path(cache_dir)
        self._packaged_factory = packaged
        self._packaged: ReleaseModels | None = None
        self._on_failure = on_failure
        self._retry_s = retry_s
        self._loaded: OrderedDict[str, ReleaseModels] = OrderedDict()
        self._failed: dict[str, float] = {}
        self._last_good: ReleaseModels | None = None
        self._lock = threading.RLock()

    def packaged(self) -> ReleaseModels:
        with self._lock:
            if self._packaged is None:
                try:
                    self._packaged = self._packaged_factory()
                except LearnedRouterUnavailable:  # broken packaged models: serve without them, loudly
                    log.exception("the packaged learned router / verifier cannot be loaded; routing without them")
                    self._packaged = ReleaseModels()
            return self._packaged

    def current(self) -> ReleaseModels:
        """The models of the release in force; the last good ones while it cannot be loaded."""
        pointer = self._policy.release() if self._policy is not None and self._blobs is not None else None
        if pointer is None:
            return self.packaged()
        loaded = self._load(pointer.current)
        with self._lock:
            if loaded is not None:
                self._last_good = loaded
                return loaded
            return self._last_good or self.packaged()

    def for_version(self, version: str | None) -> ReleaseModels | None:
        """The models of that release (None: the packaged ones); None when it is unknown or unusable."""
        if version is None:
            return self.packaged()
        with self._lock:
            if version in self._loaded:
                return self._loaded[version]
        pointer = self._policy.release() if self._policy is not None and self._blobs is not None else None
        release = pointer.find(version) if pointer is not None else None
        if release is None:
            log.error("release %s is not known to the release pointer; its models cannot be loaded", version)
            return None
        return self._load(release)

    def load(self, release: Release) -> ReleaseModels | None:
        """The models of any release (a shadow policy's), by the same verified download; None if unusable."""
        return self._load(release) if self._blobs is not None else None

    # ---- loading ---------------------------------------------------------------------------------
    def _load(self, release: Release) -> ReleaseModels | None:
        with self._lock:
            if release.version in self._loaded:
                self._loaded.move_to_end(release.version)
                return self._loaded[release.version]
            failed_at = self._failed.get(release.version)
            if failed_at is not None and time.monotonic() - failed_at < self._retry_s:
                return None
            try:
                loaded = load_directory(self._materialise(release), version=release.version)
            except (BlobError, LearnedRouterUnavailable, OSError) as exc:
                self._failed[release.version] = time.monotonic()
                log.error("release %s not loaded, keeping the last good one: %s", release.version, exc)
                if self._on_failure is not None:
                    self._on_failure(release.version, type(exc).__name__)
                return None
            self._failed.pop(release.version, None)
            self._loaded[release.version] = loaded
            while len(self._loaded) > KEEP_VERSIONS:
                self._loaded.popitem(last=False)
            return loaded

    def _materialise(self, release: Release) -> Path:
        """The release's model files in a directory of their own, each checked against its sha256."""
        assert self._blobs is not None
        directory = self._cache_dir / "releases" / release.version
        directory.mkdir(parents=True, exist_ok=True)
        for name in MODEL_FILES:
            sha = release.files.get(name)
            if sha is None:
                continue
            target = directory / name
            if target.is_file() and file_sha256(target) == sha:
                continue
            data = self._blobs.get(sha)  # verified against sha by the store
            partial = directory / f".{name}.{os.getpid()}.{threading.get_ident()}.partial"
            partial.write_bytes(data)
            os.replace(partial, target)  # never a half-written file under the real name
            if file_sha256(target) != sha:  # the disk gave back something else: never loaded
                target.unlink(missing_ok=True)
                raise BlobError(f"{target} does not have its sha256 after writing it")
        return directory
