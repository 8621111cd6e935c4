#!/usr/bin/env bash
# The deploy rehearsal, offline: synthesise with the default context into cdk.out/ (building the Lambda
# layers, cached) and check what `cdk deploy` would deploy - cdk-nag, cfn-lint, Lambda's size limits, that
# each function's layers hold what it imports, the IAM scope, that every variable a function reads is set,
# and the asset metadata `sam local invoke` reads. One line per check; exits 1 when any fails.
# Extra context: bash scripts/rehearse.sh -c switchboard:architecture=x86_64
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m infra.rehearsal "$@"
