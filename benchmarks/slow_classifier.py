"""The four-axis taxonomy's slow classifier, measured on real prompts with a real local model, and its gate
fitted: the weight ``lam`` of its labels and the fast classifier's ``margin`` below which it is asked.

Takes a training run (``switchboard train --out DIR``: its ``axes.onnx`` heads and label sets) and prompts of
the recorded data it was not trained on (the validation split ``switchboard eval --split 0.3 --seed 7``
holds out: a seeded sample of it), whose true labels are the dataset's category (domain), the rules (task,
format) and the recorded outcomes (complexity). For each prompt, the fast heads' distributions, and the slow
model's labels for every axis (``service.slow_classifier``, the request path's call: a JSON schema of the
label sets), with its cost and latency. The gate is fitted on the first half of the prompts
(``offline.taxonomy_axes.fit_slow_gate``) and reported on the second: fast labels alone against fused
labels, and the share of prompts that would call the slow model. Calls are journaled under ``--work``
(not committed: outcomes of the development data), so an interrupted run resumes.

    .venv/bin/python benchmarks/slow_classifier.py --run out/eval/mmlu_pro/artifacts --n 160
    # then: switchboard train ... --slow-classifier benchmarks/out/slow_classifier.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "mmlu_pro"
OUT = ROOT / "benchmarks" / "out" / "slow_classifier.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a `switchboard train --out` directory")
    parser.add_argument("--data", type=Path, default=DATA / "dev.parquet")
    parser.add_argument("--n", type=int, default=160)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="the slow model (a local catalogue entry)")
    parser.add_argument("--work", type=Path, default=ROOT / "out" / "slow_classifier")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")

    import numpy as np
    from tqdm import tqdm

    from switchboard.adapters.learned import OnnxAxisHeads
    from switchboard.adapters.providers.registry import ProviderRegistry
    from switchboard.domain.axes import AXES
    from switchboard.domain.dial import Dial
    from switchboard.domain.taxonomy import routing_text
    from switchboard.local.provisioning import DATA_DIR
    from switchboard.offline.embeddings import embed_prompts
    from switchboard.offline.outcomes import load_outcomes, split_rows
    from switchboard.offline.taxonomy_axes import fit_slow_gate, fused_accuracy, training_labels
    from switchboard.service.slow_classifier import SlowClassifier

    dial = Dial.model_validate_json((args.run / "dial.json").read_text(encoding="utf-8"))
    if dial.axes is None:
        raise SystemExit(f"{args.run} has no four-axis taxonomy (train it with this version of switchboard)")
    heads = OnnxAxisHeads(args.run)
    data = load_outcomes(args.data)
    _, validation = split_rows(data.prompt_ids, 0.3, args.seed)
    rng = np.random.default_rng(args.seed)
    rows = np.sort(rng.choice(validation, size=min(args.n, len(validation)), replace=False))
    sample = data.subset(rows)
    truth = training_labels(sample)
    embeddings = embed_prompts(sample.prompts, progress=True)
    entries = [e for e in (json.loads((DATA_DIR / "catalog.local.json").read_text())) if e["model_id"] == args.model]
    if not entries:
        raise SystemExit(f"{args.model} is not in the local catalogue")
    from switchboard.domain.catalog import ModelEntry

    entry = ModelEntry.model_validate(entries[0])

    class Catalog:  # the one model asked
        def models(self) -> dict:
            return {entry.model_id: entry}

    slow = SlowClassifier(Catalog(), ProviderRegistry())
    everything = dial.axes.model_copy(update={"margin": 2.0, "lam": 1.0, "slow_model": args.model})  # ask all
    args.work.mkdir(parents=True, exist_ok=True)
    journal = args.work / "journal.jsonl"
    done = {}
    if journal.is_file():
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
                done[record["prompt_id"]] = record
            except (ValueError, KeyError):
                continue  # a cut-off last line: redone
    with journal.open("a", encoding="utf-8") as handle:
        for i in tqdm(range(sample.n), desc=f"slow classifier ({args.model})", unit="prompt"):
            pid = str(sample.prompt_ids[i])
            if pid in done:
                continue
            fast = {a: p[0] for a, p in heads.predict_batch(embeddings[i:i + 1]).items()}
            call = slow.pending(routing_text(sample.prompts[i]), everything, fast)
            assert call is not None
            started = time.perf_counter()
            _, made = slow.run(routing_text(sample.prompts[i]), everything, fast, call)
            record = {"prompt_id": pid, "fast": {a: [float(x) for x in p] for a, p in fast.items()},
                      "slow": made.labels, "truth": {a: str(truth[a][i]) for a in AXES}, "error": made.error,
                      "cost_usd": made.cost_usd, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            done[pid] = record
    records = [done[str(pid)] for pid in sample.prompt_ids]
    half = len(records) // 2
    gate = fit_slow_gate(records[:half], dial.axes.classes, args.model)
    fitted = dial.axes.model_copy(update={"lam": gate["lam"], "margin": gate["margin"], "slow_model": args.model})
    held_fused, held_rate = fused_accuracy(records[half:], fitted)
    held_fast, _ = fused_accuracy(records[half:], dial.axes.model_copy(update={"lam": 0.0}))
    per_axis_slow = {a: round(float(np.mean([r["slow"].get(a) == r["truth"][a] for r in records])), 4) for a in AXES}
    per_axis_fast = {a: round(float(np.mean([dial.axes.classes[a][int(np.argmax(r["fast"][a]))] == r["truth"][a]
                                             for r in records])), 4) for a in AXES}
    latencies = sorted(r["latency_ms"] for r in records)
    report = {"run": str(args.run), "data": str(args.data), "prompts": len(records), "model": args.model,
              "lam": gate["lam"], "margin": gate["margin"], "slow_model": args.model,
              "fitted_on_first_half": {k: v for k, v in gate.items() if k != "grid"},
              "second_half": {"prompts": len(records) - half, "fast_accuracy": round(held_fast, 4),
                              "fused_accuracy": round(held_fused, 4), "call_rate": round(held_rate, 4)},
              "per_axis_accuracy": {"fast": per_axis_fast, "slow": per_axis_slow},
              "slow_call": {"latency_ms_p50": latencies[len(latencies) // 2],
                            "latency_ms_p95": latencies[int(len(latencies) * 0.95) - 1],
                            "mean_cost_usd": round(float(np.mean([r["cost_usd"] for r in records])), 8),
                            "unparsed": sum(1 for r in records if r["error"])},
              "grid": gate["grid"], "classes": dial.axes.classes}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k not in ("grid", "classes")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
