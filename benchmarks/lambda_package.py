"""What the Lambda functions deploy, measured: each layer's and each function's size for both
architectures, and the router function's cold start from the built layers on CPython 3.12.

Sizes come from the layers as the synth builds them (``infra.layer_build``, cached): bytes unzipped and of a
.zip, against Lambda's 250 MB (function and layers, unzipped) and 50 MB (a .zip) limits.

The cold start runs the router's handler in a fresh CPython 3.12 (Lambda's runtime version) whose only paths
are the code asset, the x86_64 layers (this machine's; the deployed default is arm64, whose layers hold the
same Python code and aarch64 builds of the same native libraries) and boto3 (which the Lambda runtime
brings): the time to import the handler module (what Lambda's init phase runs), then the first request's
share - loading the ONNX encoder and embedding one prompt. Each is measured in ``--runs`` fresh processes
that write no bytecode, as on Lambda, whose /opt is read-only. It is this machine's CPU, not Lambda's.

Run: .venv/bin/python benchmarks/lambda_package.py [--runs 7] [--python /path/to/python3.12]
Writes benchmarks/out/lambda_package.json.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from infra.constructs.lambda_defaults import code_size  # noqa: E402
from infra.layer_build import PLATFORMS, build_layer, cache_root, lock_pins  # noqa: E402
from infra.layer_spec import MB, PYTHON_VERSION, UNZIPPED_LIMIT_BYTES, ZIPPED_LIMIT_BYTES  # noqa: E402

FUNCTION_LAYERS = {"RouterFn": ("core", "encoder"), "DecideFn": ("core", "encoder"), "TierFn": ("core",),
                   "JudgeFn": ("core",), "RecordFn": ("core",)}
COLD_START = r"""
import sys, time, json
t0 = time.perf_counter()
sys.path[:0] = json.loads(sys.argv[1])
import router.handler
t1 = time.perf_counter()
from switchboard.adapters.encoder import get_encoder
vector = get_encoder().embed(["Write a Python function that returns the sum of a list."])
t2 = time.perf_counter()
assert vector.shape == (1, 384)
print(json.dumps({"handler_import_s": t1 - t0, "encoder_first_embedding_s": t2 - t1}))
"""


def find_python312(given: str | None) -> str | None:
    candidates = [given, os.environ.get("SB_PY312"), shutil.which("python3.12"),
                  *sorted(glob.glob(str(Path.home() / ".pyenv" / "versions" / "3.12.*" / "bin" / "python3.12")))]
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
                                 capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        if out.stdout.strip() == "True":
            return candidate
    return None


def runtime_sdk() -> Path:
    """boto3 as the Lambda python3.12 runtime brings it (the lock's version), for the cold-start process."""
    lock = lock_pins(ROOT)
    target = cache_root() / f"runtime-sdk-{lock['boto3']}"
    if not (target / "boto3").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--no-compile", "--target", str(target), "--only-binary=:all:", "--python-version",
                        PYTHON_VERSION, *[a for p in PLATFORMS["x86_64"] for a in ("--platform", p)],
                        f"boto3=={lock['boto3']}", "-c", str(ROOT / "requirements.lock")], check=True)
    return target


def sizes() -> dict:
    out: dict = {}
    code = code_size(ROOT / "functions")
    for arch in ("arm64", "x86_64"):
        layers = {name: build_layer(name, arch).manifest for name in ("core", "encoder")}
        out[arch] = {
            "layers": {name: {"unzipped_mb": round(m["unzipped_bytes"] / MB, 1), "zipped_mb": round(m["zipped_bytes"] / MB, 1),
                              "files": m["files"]} for name, m in layers.items()},
            "functions_unzipped_mb": {fn: round((code + sum(layers[n]["unzipped_bytes"] for n in names)) / MB, 1)
                                      for fn, names in FUNCTION_LAYERS.items()},
        }
    out["code_kb"] = round(code / 1024, 1)
    out["limits"] = {"function_unzipped_mb": round(UNZIPPED_LIMIT_BYTES / MB, 1), "layer_zipped_mb": ZIPPED_LIMIT_BYTES / MB}
    return out


def cold_start(python: str, runs: int) -> dict:
    paths = [str(ROOT / "functions"), *(str(build_layer(n, "x86_64").path / "python") for n in ("core", "encoder")),
             str(runtime_sdk())]
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1", "AWS_LAMBDA_FUNCTION_NAME": "RouterFn",
           "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_METRICS_DISABLED": "true"}
    samples = []
    for _ in range(runs):
        proc = subprocess.run([python, "-I", "-c", COLD_START, json.dumps(paths)], capture_output=True, text=True,
                              env=env, cwd="/", timeout=300)
        if proc.returncode != 0:
            raise SystemExit(f"the cold-start process failed:\n{proc.stderr[-2000:]}")
        samples.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    figures = {}
    for key in ("handler_import_s", "encoder_first_embedding_s"):
        values = sorted(s[key] for s in samples)
        figures[key] = {"median": round(statistics.median(values), 3), "min": round(values[0], 3),
                        "max": round(values[-1], 3)}
    return {"python": subprocess.run([python, "--version"], capture_output=True, text=True).stdout.strip(),
            "runs": runs, **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--python", help="a CPython 3.12 (default: SB_PY312, python3.12 on PATH, or pyenv's)")
    args = parser.parse_args()
    result: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
                    "sizes": sizes()}
    python = find_python312(args.python)
    result["router_cold_start"] = (cold_start(python, args.runs) if python else
                                   "not measured: no CPython 3.12 here (--python or SB_PY312)")
    out = ROOT / "benchmarks" / "out" / "lambda_package.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
