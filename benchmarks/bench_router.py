"""Router latency benchmark: embed + route (taxonomy match + plan) on one thread, and cold start.

Prints p50 / p99 for short prompts (<= 128 tokens) and long prompts (truncated at 256 tokens), and the
cold-start time of a fresh process (imports + model load + first route), then writes the figures to
benchmarks/out/router.json. Targets: p50 <= 5 ms for short prompts, cold start <= 1 s.

Run: .venv/bin/python benchmarks/bench_router.py [--iterations 300]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

COLD_START = r"""
import time, json
t0 = time.perf_counter()
from switchboard.adapters.encoder import OnnxEncoder
from switchboard.domain.planner import PlannerConfig, build_plan
from switchboard.domain.taxonomy import CentroidIndex, Category
from switchboard.domain.catalog import ModelEntry
from switchboard.domain.requests import ChatRequest, Message
t1 = time.perf_counter()
enc = OnnxEncoder(threads=1)
t2 = time.perf_counter()
index = CentroidIndex([Category(name="a", centroid=[1.0] + [0.0] * 383, tiers=["m"])])
catalog = {"m": ModelEntry(model_id="m", provider="openai", provider_model="m",
                           price={"input_usd_per_mtok": 1, "output_usd_per_mtok": 2})}
req = ChatRequest(messages=[Message(role="user", content="What is the capital of France?")])
match = index.nearest(enc.embed_one(req.prompt))
build_plan(request=req, catalog=catalog, config=PlannerConfig(default_tiers=["m"]), match=match,
           category=index.get(match.category))
t3 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "model_load_s": t2 - t1, "first_route_s": t3 - t2}))
"""

SHORT = [
    "What is the capital of France?",
    "Write a Python function that reverses a string.",
    "Solve for x: 3x + 7 = 22.",
    "Summarise the plot of Hamlet in two sentences, focusing on the themes of revenge and indecision, "
    "and mention the fate of the main characters at the end of the play.",
]
LONG = [("Explain, step by step and with examples, how a hash map handles collisions, what load factor "
         "means, and when resizing happens. ") * 12,
        ("The following is a passage from a contract. Identify the obligations of each party and any "
         "termination clauses. ") * 15]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--cold-runs", type=int, default=3)
    args = parser.parse_args()

    from switchboard.adapters.encoder import OnnxEncoder
    from switchboard.domain.catalog import ModelEntry
    from switchboard.domain.planner import PlannerConfig, build_plan
    from switchboard.domain.requests import ChatRequest, Message
    from switchboard.local.seed import load_taxonomy
    from switchboard.local.stack import DATA_DIR

    encoder = OnnxEncoder(threads=1)
    from switchboard.domain.taxonomy import CentroidIndex

    index = CentroidIndex(load_taxonomy(DATA_DIR / "taxonomy.seed.json", encoder))
    catalog = {e["model_id"]: ModelEntry.model_validate(e)
               for e in json.loads((DATA_DIR / "catalog.local.json").read_text())}
    config = PlannerConfig(default_tiers=list(catalog))
    tokens = {name: [len(encoder._tokenizer.encode(t).ids) for t in texts]
              for name, texts in (("short", SHORT), ("long", LONG))}

    def route(text: str) -> None:
        request = ChatRequest(messages=[Message(role="user", content=text)])
        match = index.nearest(encoder.embed_one(text))
        build_plan(request=request, catalog=catalog, config=config, match=match, category=index.get(match.category))

    results: dict = {"python": sys.version.split()[0], "machine": platform.machine(), "threads": 1}
    for name, texts in (("short", SHORT), ("long", LONG)):
        for text in texts:  # warm-up
            route(text)
        samples = []
        for i in range(args.iterations):
            text = texts[i % len(texts)]
            start = time.perf_counter()
            route(text)
            samples.append((time.perf_counter() - start) * 1000)
        results[name] = {"p50_ms": statistics.median(samples), "p99_ms": percentile(samples, 0.99),
                         "mean_ms": statistics.fmean(samples), "iterations": args.iterations,
                         "tokens": tokens[name]}
        print(f"{name:5s} prompts ({min(tokens[name])}-{max(tokens[name])} tokens): "
              f"p50 {results[name]['p50_ms']:.2f} ms  p99 {results[name]['p99_ms']:.2f} ms")

    colds = []
    for _ in range(args.cold_runs):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", COLD_START], capture_output=True, text=True, check=True,
                             env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
        wall = time.perf_counter() - start
        parts = json.loads(out.stdout.strip().splitlines()[-1])
        colds.append({**parts, "in_process_s": sum(parts.values()), "process_wall_s": wall})
    best = min(colds, key=lambda c: c["in_process_s"])
    results["cold_start"] = {"runs": colds, "best_in_process_s": best["in_process_s"],
                             "median_in_process_s": statistics.median(c["in_process_s"] for c in colds),
                             "median_process_wall_s": statistics.median(c["process_wall_s"] for c in colds)}
    print(f"cold start (imports + model load + first route): median "
          f"{results['cold_start']['median_in_process_s']:.3f} s in process, "
          f"{results['cold_start']['median_process_wall_s']:.3f} s including interpreter start "
          f"(imports {best['imports_s']:.3f} s, load {best['model_load_s']:.3f} s, first {best['first_route_s']:.3f} s)")
    out_dir = ROOT / "benchmarks" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "router.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out_dir / 'router.json'}")


if __name__ == "__main__":
    main()
