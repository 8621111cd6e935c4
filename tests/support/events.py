"""Sample events under events/<function>/<scenario>.json (the deployed stack's: the default Bedrock
catalogue's models, the sample bearer key) and events/local/<function>/<scenario>.json (the local stack's
GGUF pool): the files `sam local invoke -e` takes, written by scripts/make_events.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(function: str, scenario: str) -> dict:
    return copy.deepcopy(json.loads((EVENTS / function / f"{scenario}.json").read_text(encoding="utf-8")))
