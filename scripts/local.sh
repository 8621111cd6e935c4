#!/usr/bin/env bash
# Set up (if needed) and serve Switchboard locally on its embedded defaults: no AWS account, no keys.
# Extra arguments go to `switchboard local` (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/switchboard local "$@"
