#!/usr/bin/env bash
# Build the Lambda layers ahead of a synth (or find them in the cache) and print where they are and their
# sizes. `cdk synth` and `cdk deploy` build them themselves, through local bundling (infra/layer_build.py);
# this only saves that wait, or shows the sizes. Needs a Python with pip and access to PyPI.
# Usage: bash layers/build.sh [core|encoder ...] [--arch arm64|x86_64]   (default: both layers, arm64)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m infra.layer_build "$@"
