#!/usr/bin/env bash
# Set up (if needed) and run every check: lint, the deploy rehearsal, then the unit, functional, infra, data
# and end-to-end tests. Extra arguments go to pytest (e.g. -m "not e2e" for a quick run).
set -euo pipefail
cd "$(dirname "$0")/.."
SB_SAM="${SB_SAM:-1}" bash scripts/setup.sh   # with the SAM CLI's virtualenv (tests/infra/test_sam.py)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
echo "==> ruff"
.venv/bin/ruff check src functions infra tests benchmarks scripts app.py
echo "==> mypy (src, functions)"
.venv/bin/mypy
echo "==> deploy rehearsal (synth with the default context, offline checks)"
bash scripts/rehearse.sh --outdir "${SB_REHEARSAL_OUT:-cdk.out}"
echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
