"""Shared by the infra tests: the synthesised template and how to look things up in it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# Stand-ins for the Lambda layers: tests that read the template but not the layers' contents ask for them
# explicitly, so they synthesise in seconds without building ~150 MB of wheels. The deployable synth (the
# default context) is tested in test_deployable_synth.py.
PLACEHOLDER_LAYERS = {"switchboard:layers": "placeholder"}


@dataclass(frozen=True)
class Synth:
    template: dict[str, Any]
    template_path: Path
    outdir: Path
    stack_name: str = "Switchboard"

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.template["Resources"].items() if r["Type"] == kind}
