#!/usr/bin/env bash
# Synthesise the CDK app offline (no CDK CLI needed) into cdk.out/ and print the template's path.
# cdk-nag runs during the synth and fails it on any unacknowledged finding.
# The synth builds the Lambda layers it packages (cached; the first one downloads wheels from PyPI).
# Extra context: SB_CONTEXT='{"switchboard:architecture": "x86_64"}' bash scripts/synth.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
export CDK_OUTDIR="${CDK_OUTDIR:-cdk.out}"
if [ -n "${SB_CONTEXT:-}" ]; then export CDK_CONTEXT_JSON="$SB_CONTEXT"; fi  # read by the CDK App, as from the CLI
"$PY" app.py
template="$(ls "$CDK_OUTDIR"/*.template.json | head -1)"
echo "$template"
