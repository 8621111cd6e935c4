"""Sample events under events/<function>/<scenario>.json: the same files `sam local invoke -e` takes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(function: str, scenario: str) -> dict:
    return copy.deepcopy(json.loads((EVENTS / function / f"{scenario}.json").read_text(encoding="utf-8")))
