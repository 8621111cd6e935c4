"""The deploy rehearsal: synthesise with the default context (building the layers, as ``cdk deploy``
does) and check what would be deployed, offline. Prints one line per check - each one can fail - and exits
non-zero when any did.

    python -m infra.rehearsal [--outdir cdk.out] [-c switchboard:key=value ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from infra.rehearsal.assembly import Assembly
from infra.rehearsal.checks import CHECKS, Check

ROOT = Path(__file__).resolve().parents[2]


def synthesise(outdir: Path, context: dict[str, Any]) -> tuple[list[Check], Assembly | None]:
    """The synth (and cdk-nag, its validation plugin) as checks; the assembly when it succeeded."""
    from cdk_nag import AwsSolutionsChecks

    import app as cdk_app

    started = time.perf_counter()
    try:
        the_app, stack = cdk_app.build_app(context=context, outdir=str(outdir))
        findings = AwsSolutionsChecks().validate_scope(the_app).violations  # what no acknowledgement covers
        the_app.synth()  # runs the same pack as a validation plugin: a finding fails it
    except Exception as exc:  # noqa: BLE001 - every failure of the synth is reported as the check it fails
        message = str(exc)
        name = "cdk-nag" if "ValidationFailed" in message else "synth"
        return [Check(name, False, _tail(message))], None
    seconds = time.perf_counter() - started
    acknowledged = sum(len(m.data) for node in the_app.node.find_all() for m in node.node.metadata
                       if m.type == "aws:cdk:acknowledged-rules")
    unacknowledged = sorted({f"{v.rule_name} on {r.construct_path}" for v in findings for r in v.violating_resources})
    warnings = _warnings(outdir)
    return [Check("synth", not warnings, f"{stack.stack_name} with {_described(context)} in "
                  f"{seconds:.1f} s into {outdir}" + (f"; warnings: {warnings}" if warnings else "; no warning")),
            Check("cdk-nag", not unacknowledged, "; ".join(unacknowledged) if unacknowledged else
                  f"AwsSolutions pack: no unacknowledged finding ({acknowledged} findings acknowledged, each with "
                  "its reason, in infra/nag.py and the constructs)")], Assembly(outdir, stack.stack_name)


def _warnings(outdir: Path) -> list[str]:
    report = outdir / "validation-report.json"
    if not report.is_file():
        return []
    data = json.loads(report.read_text(encoding="utf-8"))
    return [v["ruleName"] for plugin in data.get("pluginReports", []) for v in plugin.get("violations", [])]


def _described(context: dict[str, Any]) -> str:
    return f"the default context but {context}" if context else "the default context"


def _tail(message: str) -> str:
    """A jsii error's message without its JavaScript stack."""
    lines = [line for line in message.splitlines() if not line.strip().startswith("at ")]
    return " ".join(" ".join(lines).split())[:2000]


def rehearse(outdir: Path, context: dict[str, Any] | None = None) -> list[Check]:
    checks, assembly = synthesise(outdir, context or {})
    if assembly is not None:
        checks += [check(assembly) for check in CHECKS]
    return checks


def _context(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.rehearsal", description=__doc__.split("\n\n")[0])
    parser.add_argument("--outdir", type=Path, default=ROOT / "cdk.out")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    checks = rehearse(args.outdir, _context(args.context))
    for check in checks:
        print(f"{'PASS' if check.ok else 'FAIL'}  {check.name:<12} {check.detail}")
    failed = [c.name for c in checks if not c.ok]
    print(f"{'FAIL' if failed else 'PASS'}  {'rehearsal':<12} "
          + (f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}" if failed
             else f"all {len(checks)} checks passed: {args.outdir} can be deployed as it is"))
    return 1 if failed else 0
