"""Markdown tables from ``results.json`` files (used to write docs/benchmarks.md).

``python -m switchboard.offline.report main/results.json [seed2/results.json ...]`` prints the strategy
table of the first file (each family's own frontier points) and a robustness table over all files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .metrics import pareto_frontier

FAMILY_ORDER = ["single", "oracle", "random", "knn", "routellm-mf", "routellm-bert", "automix-threshold",
                "automix-pomdp", "frugalgpt", "sb-taxonomy", "sb-learned", "sb-combined", "sb-cascade"]


def _fmt_cost(x: float) -> str:
    return f"{x:.3f}" if x >= 0.01 else f"{x:.4f}"


def strategy_table(results: dict, all_points: bool = False) -> str:
    """Singles, oracle, and per family its points on the family's own cost-accuracy frontier (trained /
    dial points always shown)."""
    best = results["best_single"]
    lines = ["| strategy | kind | accuracy | Δ vs best single | cost / 1k prompts (USD) | × best single's cost "
             "| escalation |", "|---|---|---:|---:|---:|---:|---:|"]
    families: dict[str, list[dict]] = {}
    for s in results["strategies"]:
        families.setdefault(s["params"].get("family", s["kind"]), []).append(s)
    order = [f for f in FAMILY_ORDER if f in families] + [f for f in families if f not in FAMILY_ORDER]
    for family in order:
        items = sorted(families[family], key=lambda s: s["cost_per_1k_usd"])
        if not all_points and family not in ("single", "oracle", "sb-cascade"):
            front = set(pareto_frontier([s["cost_per_1k_usd"] for s in items], [s["accuracy"] for s in items]))
            items = [s for i, s in enumerate(items) if i in front or "trained" in s["name"]]
        for s in items:
            name = s["name"].replace("|", "/")
            if s["name"] == best["name"]:
                name = f"**{name}** (best single)"
            esc = "" if s["escalation_rate"] is None else f"{s['escalation_rate']:.2f}"
            ratio = s["cost_per_1k_usd"] / best["cost_per_1k_usd"]
            lines.append(f"| {name} | {s['kind']} | {s['accuracy']:.3f} | {100 * (s['accuracy'] - best['accuracy']):+.1f} "
                         f"| {_fmt_cost(s['cost_per_1k_usd'])} | {ratio:.3f} | {esc} |")
    return "\n".join(lines)


def aiq_table(results: dict) -> str:
    lines = ["| family | AIQ |", "|---|---:|"]
    for name, value in sorted(results["aiq"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {name} | {value:.4f} |")
    return "\n".join(lines)


def bars_summary(results: dict) -> dict:
    bars = results["bars"]
    sb = [s for s in results["strategies"] if s["kind"] == "switchboard"]
    best = results["best_single"]

    def closest(limit: float, target: float) -> dict:
        within = [s for s in sb if s["cost_per_1k_usd"] <= limit]
        top = max(within, key=lambda s: s["accuracy"]) if within else None
        cheapest_ok = min((s for s in sb if s["accuracy"] >= target), key=lambda s: s["cost_per_1k_usd"],
                          default=None)
        return {"best_within_budget": top and (top["name"], top["accuracy"], top["cost_per_1k_usd"]),
                "cheapest_reaching_target": cheapest_ok and (cheapest_ok["name"], cheapest_ok["accuracy"],
                                                             cheapest_ok["cost_per_1k_usd"])}

    return {"plus3": {**bars["plus3_at_quarter_cost"], **closest(best["cost_per_1k_usd"] / 4, best["accuracy"] + 0.03)},
            "match": {**bars["match_at_tenth_cost"], **closest(best["cost_per_1k_usd"] / 10, best["accuracy"])},
            "aiq": bars["aiq_above_every_baseline"]}


def robustness_table(files: list[Path]) -> str:
    lines = ["| split seed | best single (acc, $/1k) | best SB point ≤ 1/10 cost | best SB point ≤ 1/4 cost | "
             "bar: = best at ≤1/10 | bar: +3 pt at ≤1/4 | AIQ SB / best baseline |",
             "|---|---|---|---|---|---|---|"]
    for path in files:
        r = json.loads(Path(path).read_text())
        b = bars_summary(r)
        best = r["best_single"]
        seed = r.get("split", "").split("seed ")[-1]

        def cell(entry: tuple | None) -> str:
            return "—" if not entry else f"{entry[0]}: {entry[1]:.3f} at ${entry[2]:.3f}"

        a = b["aiq"]
        lines.append(f"| {seed} | {best['accuracy']:.3f}, ${best['cost_per_1k_usd']:.3f} | "
                     f"{cell(b['match']['best_within_budget'])} | {cell(b['plus3']['best_within_budget'])} | "
                     f"{'met' if b['match']['met'] else 'missed'} | {'met' if b['plus3']['met'] else 'missed'} | "
                     f"{a['switchboard']:.4f} / {a['best_baseline_aiq']:.4f} ({a['best_baseline']}) |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv]
    first = json.loads(files[0].read_text())
    print(f"### {first['dataset']} ({first['prompts']} validation prompts)\n")
    print(strategy_table(first))
    print("\n" + aiq_table(first))
    print("\n" + robustness_table(files))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
