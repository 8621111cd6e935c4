"""Build a Lambda layer on this machine, with pip, from wheels for the Lambda platform; cached.

    python -m infra.layer_build [core|encoder ...] [--arch arm64|x86_64]

The CDK app runs this through local bundling at synth (``infra.constructs.layers``), so ``cdk synth`` and
``cdk deploy`` build what they deploy; by hand it prints where each layer is and its sizes. A layer is built
in two steps, each cached under ``$SB_LAYER_CACHE`` (default ``~/.cache/switchboard/layers``):

1. its dependencies: ``pip install --target`` of ``layers/<name>/requirements.txt`` held to
   ``requirements.lock`` (``-c``), CPython 3.12 manylinux wheels only, for the architecture; keyed by a
   hash of those two files, the architecture and this build's code. Slow once (a download from PyPI),
   then reused.
2. the layer: those files (hard links, no copy) plus, for ``core``, the switchboard package from
   ``src/``; keyed by the step-1 key and a hash of the package's sources. Fast.

Each step is checked before it is kept: the layer's pins equal the lock's, every package pip installed is
pinned, every wheel is for the architecture, the files the functions need are there, and the sizes are
measured (unzipped, and zipped as a .zip of the layer) into a manifest at the layer's root. A step is built
in a scratch directory and renamed into place, so an interrupted or concurrent build never leaves a
half-built layer for the next synth.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from infra.layer_spec import (
    ARCHITECTURES,
    LAYERS,
    MANIFEST,
    MB,
    PLATFORMS,
    PYTHON_VERSION,
    LayerSpec,
    LayerSpecError,
    explain_pip_failure,
    installed_problems,
    lock_problems,
    normalise,
    parse_pins,
    wheel_tag_problems,
)
from switchboard import envvars as names

ROOT = Path(__file__).resolve().parent.parent
PRUNED_DIRS = ("__pycache__",)
PRUNED_SUFFIXES = (".pyc",)
KEEP_CACHED = 3  # entries kept per layer and architecture (and per dependency set); older ones are removed
Log = Callable[[str], None]


class LayerBuildError(RuntimeError):
    """A layer could not be built; the message says why and what to install or change."""


@dataclass(frozen=True)
class BuiltLayer:
    name: str
    architecture: str
    key: str
    path: Path  # the layer's root: python/ and the manifest

    @property
    def manifest(self) -> dict:
        return json.loads((self.path / MANIFEST.format(name=self.name)).read_text(encoding="utf-8"))


def cache_root() -> Path:
    return Path(os.environ.get(names.ENV_LAYER_CACHE) or Path.home() / ".cache" / "switchboard" / "layers")


def build_python() -> str:
    """The interpreter whose pip builds the layers (it only downloads wheels: any Python 3 with pip)."""
    return os.environ.get(names.ENV_LAYER_PYTHON) or sys.executable


# ---- keys -----------------------------------------------------------------------------------------
def _digest(parts: Iterator[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for label, data in parts:
        digest.update(label.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:24]


def _source_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and not _pruned(p.relative_to(directory)))


def _pruned(rel: Path) -> bool:
    return any(part in PRUNED_DIRS for part in rel.parts) or rel.suffix in PRUNED_SUFFIXES


def dependencies_key(root: Path, spec: LayerSpec, architecture: str) -> str:
    """What step 1 depends on: the layer's pins, the lock, the platform and this build's own code."""
    here = Path(__file__).resolve().parent
    return _digest(iter([("layer", spec.name.encode()), ("arch", architecture.encode()),
                         ("python", PYTHON_VERSION.encode()),
                         ("requirements", (root / spec.requirements).read_bytes()),
                         ("lock", (root / "requirements.lock").read_bytes()),
                         ("build", (here / "layer_build.py").read_bytes()),
                         ("spec", (here / "layer_spec.py").read_bytes())]))


def layer_key(root: Path, spec: LayerSpec, architecture: str) -> str:
    """Step 1's key, and for ``core`` the switchboard package's sources too."""
    deps = dependencies_key(root, spec, architecture)
    if not spec.with_package:
        return deps
    package = root / "src" / "switchboard"
    return _digest(iter([("deps", deps.encode()),
                         *((str(p.relative_to(package)), p.read_bytes()) for p in _source_files(package))]))


# ---- checks that need no download -------------------------------------------------------------------
def lock_pins(root: Path) -> dict[str, str]:
    return parse_pins((root / "requirements.lock").read_text(encoding="utf-8"), "requirements.lock")


def check_pins(root: Path, spec: LayerSpec) -> dict[str, str]:
    """The layer's pins, refused (before anything is downloaded) when they disagree with the lock."""
    try:
        pins = parse_pins((root / spec.requirements).read_text(encoding="utf-8"), spec.requirements)
        lock = lock_pins(root)
    except (OSError, LayerSpecError) as exc:
        raise LayerBuildError(f"cannot build Lambda layer '{spec.name}': {exc}") from exc
    problems = lock_problems(spec.name, pins, lock)
    if problems:
        raise LayerBuildError(
            f"cannot build Lambda layer '{spec.name}': its pins do not match requirements.lock (the versions "
            f"the tests run against): {'; '.join(problems)}. Fix: pin the lock's versions in "
            f"{spec.requirements}, or change requirements/requirements.in and regenerate the lock "
            "(bash scripts/lock.sh)")
    return pins


def check_pip(python: str) -> None:
    try:
        proc = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise LayerBuildError(f"cannot build the Lambda layers: {python} cannot run ({exc}). Fix: install "
                              f"Python 3 with pip, or set {names.ENV_LAYER_PYTHON} to one") from exc
    if proc.returncode != 0:
        raise LayerBuildError(
            f"cannot build the Lambda layers: pip is not available to {python} "
            f"({(proc.stderr or proc.stdout).strip()[-300:]}). Fix: install pip (python3 -m ensurepip "
            f"--upgrade, or apt-get install python3-pip), or set {names.ENV_LAYER_PYTHON} to a Python with pip")


# ---- building -----------------------------------------------------------------------------------------
def build_layer(name: str, architecture: str, *, root: Path = ROOT, cache: Path | None = None,
                log: Log | None = None) -> BuiltLayer:
    """The layer ``name`` for ``architecture``: from the cache when its key is there, else built (and
    cached). Raises ``LayerBuildError`` naming the cause and the fix."""
    if name not in LAYERS or architecture not in ARCHITECTURES:
        raise LayerBuildError(f"unknown layer {name!r} or architecture {architecture!r} "
                              f"(layers {sorted(LAYERS)}, architectures {list(ARCHITECTURES)})")
    spec, cache = LAYERS[name], cache or cache_root()
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    key = layer_key(root, spec, architecture)
    if not spec.with_package:  # the layer is its dependencies
        final = _dependencies(root, spec, architecture, cache, log)
    else:
        final = cache / f"{name}-{architecture}-{key}"
        if not (final / MANIFEST.format(name=name)).is_file():
            deps = _dependencies(root, spec, architecture, cache, log)
            _publish(final, lambda scratch: _with_package(root, spec, architecture, key, deps, scratch))
            _evict(cache, f"{name}-{architecture}-")
    os.utime(final)  # recently used: kept by the eviction
    return BuiltLayer(name=name, architecture=architecture, key=key, path=final)


def _dependencies(root: Path, spec: LayerSpec, architecture: str, cache: Path, log: Log) -> Path:
    key = dependencies_key(root, spec, architecture)
    final = cache / f"{spec.name}-deps-{architecture}-{key}"
    if (final / MANIFEST.format(name=spec.name)).is_file():
        return final
    pins = check_pins(root, spec)
    python = build_python()
    check_pip(python)
    log(f"==> building Lambda layer '{spec.name}' for {architecture} (CPython {PYTHON_VERSION} wheels from "
        f"PyPI; cached in {cache})")
    started = time.perf_counter()

    def build(scratch: Path) -> None:
        target = scratch / "python"
        command = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
                   "--no-warn-script-location", "--target", str(target), "--only-binary=:all:",
                   "--implementation", "cp", "--python-version", PYTHON_VERSION,
                   *[arg for platform in PLATFORMS[architecture] for arg in ("--platform", platform)],
                   "-r", str(root / spec.requirements), "-c", str(root / "requirements.lock"),
                   *(["--no-deps"] if spec.no_deps else [])]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            raise LayerBuildError(explain_pip_failure(spec.name, architecture, proc.stdout + proc.stderr))
        shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: nothing on Lambda runs them
        _prune(target, spec)
        installed, tags = _distributions(target)
        problems = installed_problems(spec.name, installed, pins, lock_pins(root))
        problems += wheel_tag_problems(tags, architecture)
        problems += [f"{path} is missing" for path in spec.required
                     if not (target / path).is_file() and not (spec.with_package and path.startswith("switchboard/"))]
        if problems:
            raise LayerBuildError(f"Lambda layer '{spec.name}' for {architecture} was built but is not usable: "
                                  f"{'; '.join(problems)}. Fix: pin these in requirements/requirements.in "
                                  "and regenerate the lock (bash scripts/lock.sh), or correct "
                                  f"{spec.requirements}")
        _write_manifest(scratch, spec.name, {"layer": spec.name, "architecture": architecture, "key": key,
                                             "python": PYTHON_VERSION, "packages": installed,
                                             **measure(target, prefix="python")})

    _publish(final, build)
    manifest = json.loads((final / MANIFEST.format(name=spec.name)).read_text(encoding="utf-8"))
    log(f"    {spec.name}: {manifest['unzipped_bytes'] / MB:.1f} MB unzipped, {manifest['zipped_bytes'] / MB:.1f} "
        f"MB zipped, in {time.perf_counter() - started:.0f} s")
    _evict(cache, f"{spec.name}-deps-{architecture}-")
    return final


def _with_package(root: Path, spec: LayerSpec, architecture: str, key: str, deps: Path, scratch: Path) -> None:
    """Step 2: the dependencies (hard links) and the switchboard package (copied), measured."""
    link_tree(deps / "python", scratch / "python")
    package = root / "src" / "switchboard"
    destination = scratch / "python" / "switchboard"
    for path in _source_files(package):
        target = destination / path.relative_to(package)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    missing = [path for path in spec.required if not (scratch / "python" / path).is_file()]
    if missing:
        raise LayerBuildError(f"Lambda layer '{spec.name}' lacks {missing} after copying src/switchboard")
    deps_manifest = json.loads((deps / MANIFEST.format(name=spec.name)).read_text(encoding="utf-8"))
    package_sizes = measure(destination, prefix="python/switchboard")
    _write_manifest(scratch, spec.name, {
        "layer": spec.name, "architecture": architecture, "key": key, "python": PYTHON_VERSION,
        "packages": deps_manifest["packages"],
        # a .zip's entries are compressed one by one, so the parts' zipped sizes add up
        **{k: deps_manifest[k] + package_sizes[k] for k in ("files", "unzipped_bytes", "zipped_bytes")}})


def _prune(target: Path, spec: LayerSpec) -> None:
    """Bytecode compiled here would be for the wrong interpreter and only change the asset's hash; and each
    ``keep_only`` directory keeps just the files the functions read; ``drop`` ones go."""
    for path in sorted(target.rglob("*"), reverse=True):
        rel = path.relative_to(target)
        if path.is_dir() and rel.name in PRUNED_DIRS:
            shutil.rmtree(path)
        elif path.is_file() and rel.suffix in PRUNED_SUFFIXES:
            path.unlink()
    for directory in spec.drop:
        shutil.rmtree(target / directory, ignore_errors=True)
    for directory, keep in spec.keep_only.items():
        base = target / directory
        for path in sorted(base.rglob("*"), reverse=True) if base.is_dir() else []:
            if path.is_file() and str(path.relative_to(base)) not in keep:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def _distributions(target: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    """{name: version} and {name: wheel tags} of what pip installed into ``target``."""
    installed: dict[str, str] = {}
    tags: dict[str, list[str]] = {}
    for info in sorted(target.glob("*.dist-info")):
        fields = _header(info / "METADATA")
        name = normalise(fields.get("Name", [info.name.split("-")[0]])[0])
        installed[name] = fields.get("Version", ["?"])[0]
        tags[name] = _header(info / "WHEEL").get("Tag", [])
    return installed, tags


def _header(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if path.is_file() else []:
        if not line.strip():
            break  # the body (a long description) follows the headers
        if ": " in line:
            key, value = line.split(": ", 1)
            out.setdefault(key, []).append(value.strip())
    return out


# ---- sizes --------------------------------------------------------------------------------------------
class _Counter:
    """A sink that counts bytes, seekable as a file is (so zipfile writes what it writes to a file, no data
    descriptors): what a .zip of the layer weighs, without writing it."""

    def __init__(self) -> None:
        self.position = self.size = 0

    def write(self, data: bytes) -> int:
        self.position += len(data)
        self.size = max(self.size, self.position)
        return len(data)

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = offset + (0, self.position, self.size)[whence]
        return self.position

    def flush(self) -> None:
        pass


def measure(directory: Path, prefix: str, files: list[Path] | None = None) -> dict[str, int]:
    """Files, bytes unzipped and bytes of a .zip (deflate, level 6) of ``directory`` (or of ``files`` in it)
    stored under ``prefix``."""
    files = _source_files(directory) if files is None else files
    sink = _Counter()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:  # type: ignore[arg-type]
        for path in files:
            archive.write(path, f"{prefix}/{path.relative_to(directory)}")
    return {"files": len(files), "unzipped_bytes": sum(p.stat().st_size for p in files), "zipped_bytes": sink.size}


# ---- the cache ------------------------------------------------------------------------------------------
def link_file(source: str | Path, destination: str | Path) -> None:
    """A hard link (a copy where linking is refused: another file system)."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def link_tree(source: Path, destination: Path) -> None:
    """``destination`` as a copy of ``source`` made of hard links."""
    shutil.copytree(source, destination, copy_function=link_file, dirs_exist_ok=True)


def _write_manifest(scratch: Path, name: str, manifest: dict) -> None:
    (scratch / MANIFEST.format(name=name)).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n",
                                                       encoding="utf-8")


def _publish(final: Path, build: Callable[[Path], None]) -> None:
    """Build into a scratch directory beside ``final`` and rename it into place (another process may have
    put the same key there first: then ours is dropped)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        build(scratch)
        try:
            scratch.rename(final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _evict(cache: Path, prefix: str) -> None:
    entries = sorted((p for p in cache.glob(prefix + "*") if p.is_dir()), key=lambda p: p.stat().st_mtime,
                     reverse=True)
    for stale in entries[KEEP_CACHED:]:
        shutil.rmtree(stale, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.layer_build", description=__doc__.split("\n")[0])
    parser.add_argument("layers", nargs="*", help=f"default: all ({', '.join(LAYERS)})")
    parser.add_argument("--arch", default="arm64", help=f"one of {', '.join(ARCHITECTURES)} (default arm64)")
    args = parser.parse_args(argv)
    try:
        for name in args.layers or list(LAYERS):
            built = build_layer(name, args.arch)
            m = built.manifest
            print(f"{name} ({args.arch}): {m['unzipped_bytes'] / MB:.1f} MB unzipped, {m['zipped_bytes'] / MB:.1f} "
                  f"MB zipped, {m['files']} files -> {built.path}")
    except LayerBuildError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
