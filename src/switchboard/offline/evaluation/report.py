"""Markdown tables from ``results.json`` files (used to write docs/benchmarks.md).

``python -m switchboard.offline.evaluation.report main/results.json [seed2/results.json ...]`` prints the strategy
table of the first file (each family's own frontier points) and a robustness table over all files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from switchboard.offline.evaluation.metrics import pareto_frontier

FAMILY_ORDER = ["single", "oracle", "random", "knn", "routellm-mf", "routellm-bert", "automix-threshold",
                "automix-pomdp", "frugalgpt", "avengers-pro", "cascade-routing", "sb-taxonomy", "sb-learned",
                "sb-combined", "sb-cascade"]


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


def _bar_cell(r: dict, key: str) -> str:
    """One bar of one run: met or missed, with the Switchboard point closest to it within the budget."""
    b, best = r["bars"][key], r["best_single"]
    point = next((s for s in r["strategies"] if s["name"] == b.get("best_point")), None)
    if point is None:
        return "**missed**: no Switchboard point within the budget"
    delta = 100 * (point["accuracy"] - best["accuracy"])
    ratio = point["cost_per_1k_usd"] / best["cost_per_1k_usd"]
    return (f"**{'met' if b['met'] else 'missed'}**: {point['name']} {point['accuracy']:.3f} ({delta:+.1f}) "
            f"at ${point['cost_per_1k_usd']:.3f} ({ratio:.3f}x)")


def summary_rows(name: str, files: list[Path]) -> list[str]:
    """One row per split of the summary table: the best single model and the three bars."""
    rows = []
    for path in files:
        r = json.loads(Path(path).read_text())
        best, a = r["best_single"], r["bars"]["aiq_above_every_baseline"]
        seed = r.get("split", "").split("seed ")[-1]
        rows.append(f"| {name}, {r['prompts']:,} prompts, seed {seed} | {best['name']} {best['accuracy']:.3f} at "
                    f"${best['cost_per_1k_usd']:.2f} | {_bar_cell(r, 'match_at_tenth_cost')} | "
                    f"{_bar_cell(r, 'plus3_at_quarter_cost')} | **{'met' if a['met'] else 'missed'}**: "
                    f"{a['switchboard']:.4f} / {a['best_baseline_aiq']:.4f} {a['best_baseline']} |")
    return rows


def _calibrator_line(r: dict) -> str:
    m = r.get("meta_verifier") or r.get("train", {}).get("meta_verifier") or {}
    measured = m.get("measured") or {}
    if not measured.get("threshold"):
        return ""
    deployed = sorted({f"{point} {region}: {family}" for point, regions in (m.get("deployed") or {}).items()
                       for region, family in regions.items() if family == "pomdp"})
    return (f"Meta-verifiers at each point's accept-or-call-the-safety-net decision, fitted on one half of the "
            f"training prompts and compared on the other (AIQ, weighted over regions): the bar on the isotonic "
            f"confidence {measured['threshold']['aiq_validation']}, AutoMix's POMDP (`automix-llm`) "
            f"{measured['pomdp']['aiq_validation']}. POMDP deployed at: {', '.join(deployed) or 'none'}.")


def _ibc_line(r: dict) -> str:
    pick = [s for s in r["strategies"] if s["name"] in ("sb-cascade dial@1/10", "sb-cascade dial@1/4",
                                                        "frugalgpt@1/10", "automix-pomdp(trained)")]
    parts = [f"{s['name']} {s['params']['ibc_lift']:.1f}" for s in pick if s["params"].get("ibc_lift") is not None]
    return "IBC lift over the straight line from each cascade's first model to the best one: " + ", ".join(parts) + "."


def results_section(name: str, title: str, files: list[Path], image: str) -> str:
    first = json.loads(Path(files[0]).read_text())
    lo, hi = first["aiq_range_usd_per_1k"]
    out = [f"## Results: {title} ({first['split']})", "", f"![{title} Pareto plot]({image})", "",
           "Single models, the oracle, and for every strategy family the points on its own cost-accuracy "
           "frontier (every point is in `results.json`; all Switchboard cascade points are listed).", "",
           strategy_table(first), "", f"AIQ (cost range ${lo:g}-${hi:.2f} per 1k prompts):", "", aiq_table(first), "",
           _ibc_line(first), "", _calibrator_line(first), "", f"Robustness over split seeds ({name}):", "",
           robustness_table(files), ""]
    return "\n".join(out)


def via_stack_table(datasets: list[tuple[str, str, list[Path]]]) -> str:
    """One row per (dataset, split, profile) of every run that replayed prompts through the local stack."""
    lines = ["| dataset, split seed | profile (dial point) | prompts | offline: accuracy, $/1k | stack: accuracy, "
             "$/1k | same decisions | errors |", "|---|---|---:|---|---|---:|---:|"]
    for _, title, files in datasets:
        for path in files:
            r = json.loads(Path(path).read_text())
            seed = r.get("split", "").split("seed ")[-1]
            for row in r.get("via_stack", []):
                off, st = row["offline"], row["stack"]
                lines.append(f"| {title}, {seed} | {row['profile']} ({row['point']}) | {row['prompts']} | "
                             f"{off['accuracy']:.3f}, ${off['cost_per_1k_usd']:.3f} | {st['accuracy']:.3f}, "
                             f"${st['cost_per_1k_usd']:.3f} | {row['same_decisions']:.3f} | {row['errors']} |")
    return "\n".join(lines) if len(lines) > 2 else "(no run replayed prompts through the stack)"


def _replace_block(text: str, key: str, body: str) -> str:
    begin, end = f"<!-- generated:{key}:begin -->", f"<!-- generated:{key}:end -->"
    if begin not in text or end not in text:
        raise SystemExit(f"markers {begin} / {end} not found")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body.rstrip()}\n{end}{tail}"


def write_doc(doc: Path, datasets: list[tuple[str, str, list[Path]]], image_dir: Path) -> None:
    """Rewrite the generated blocks of ``doc``: ``summary`` and ``results`` (figures and plots come only
    from the given results.json files; the first file of each dataset is the main split)."""
    import shutil

    summary = ["| dataset (validation split, seed) | best single model | bar 2: best Switchboard point <= 1/10 of "
               "its cost | bar 1: best Switchboard point <= 1/4 of its cost (+3 pt needed) | bar 3: AIQ "
               "Switchboard / best baseline |", "|---|---|---|---|---|"]
    sections = []
    image_dir.mkdir(parents=True, exist_ok=True)
    for name, title, files in datasets:
        summary += summary_rows(title, files)
        image = image_dir / f"pareto_{name}.png"
        shutil.copyfile(Path(files[0]).parent / "pareto.png", image)
        sections.append(results_section(name, title, files, str(image.relative_to(doc.parent))))
    text = doc.read_text(encoding="utf-8")
    text = _replace_block(text, "summary", "\n".join(summary))
    text = _replace_block(text, "results", "\n".join(sections))
    if "<!-- generated:via-stack:begin -->" in text:
        text = _replace_block(text, "via-stack", via_stack_table(datasets))
    doc.write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    """``report RESULTS...`` prints tables; ``report doc DOC.md NAME=TITLE:r1.json,r2.json ...`` rewrites
    the doc's generated blocks."""
    if argv and argv[0] == "doc":
        doc = Path(argv[1])
        datasets = []
        for spec in argv[2:]:
            key, paths = spec.split(":", 1)
            name, title = key.split("=", 1)
            datasets.append((name, title, [Path(f) for f in paths.split(",")]))
        write_doc(doc, datasets, doc.parent / "img")
        print(f"rewrote the generated blocks of {doc}")
        return 0
    files = [Path(a) for a in argv]
    first = json.loads(files[0].read_text())
    print(f"### {first['dataset']} ({first['prompts']} validation prompts)\n")
    print(strategy_table(first))
    print("\n" + aiq_table(first))
    print("\n" + robustness_table(files))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
