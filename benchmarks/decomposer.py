"""The decomposer's error, measured with the real local models: how often it finds exactly the parts a
compound request was built from, and what the detector and the call cost in time.

Compound requests are built as ``switchboard eval`` builds them (``offline.compound_prompts``: 2-3 labelled
prompts of ``../shared/data/labelled`` joined by a seeded phrasing, with each one's line range). For each:

- the detector (``domain.detector.detect``, the rules the request path runs first) fires or not - a miss
  answers the request whole;
- the decomposer (the request path's call, ``service.decomposing.decomposer_call``: the outline, the schema
  and the grammar) is asked on every compound, and its reply read by ``parse_split`` as the request path
  reads it. It is right only when its parts are exactly the joined prompts' line ranges.

The detector is also run on each prompt alone (it must not fire: a single-part request pays nothing
beyond it). Every call is journaled under ``--out`` (not committed: it holds development data), so an
interrupted run resumes; the figures go to ``benchmarks/out/decomposer.json``.

    .venv/bin/python benchmarks/decomposer.py --model qwen2.5-coder-1.5b --n 30
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from switchboard.domain.decomposition import parse_split  # noqa: E402
from switchboard.domain.detector import detect  # noqa: E402
from switchboard.domain.requests import ChatRequest, Message  # noqa: E402
from switchboard.offline.compound_prompts import build_compounds  # noqa: E402
from switchboard.ports import ProviderError  # noqa: E402
from switchboard.service.decomposing import decomposer_call  # noqa: E402

LABELLED = ROOT.parent / "shared" / "data" / "labelled" / "routerbench_mc.jsonl"
OUT = ROOT / "benchmarks" / "out" / "decomposer.json"


def ask(model: str, text: str) -> dict:
    """One decomposer call through the request path's provider registry on the local catalogue."""
    from switchboard.domain.catalog import ModelEntry

    catalog_file = ROOT / "src" / "switchboard" / "data" / "catalog.local.json"
    entry = next(ModelEntry.model_validate(e) for e in json.loads(catalog_file.read_text()) if e["model_id"] == model)
    started = time.perf_counter()
    try:
        completion = registry().provider_for(entry).complete(
            decomposer_call(ChatRequest(messages=[Message(role="user", content=text)]), None))
    except ProviderError as exc:
        return {"error": type(exc).__name__, "seconds": round(time.perf_counter() - started, 2)}
    return {"reply": completion.text, "seconds": round(time.perf_counter() - started, 2),
            "input_tokens": completion.input_tokens, "output_tokens": completion.output_tokens}


@functools.cache
def registry():  # noqa: ANN201 - one provider registry (one loaded model) for the whole run
    from switchboard.adapters.providers.registry import ProviderRegistry

    return ProviderRegistry()


def summarise(rows: list[dict], singles: dict, model: str, n: int, seed: int) -> dict:
    asked = [r for r in rows if "error" not in r]
    right = [r for r in asked if r["parts_found"] == r["parts_expected"]]
    seconds = sorted(r["seconds"] for r in asked)
    by_size: dict[str, dict] = {}
    for size in sorted({len(r["parts_expected"]) for r in rows}):
        scoped = [r for r in asked if len(r["parts_expected"]) == size]
        by_size[str(size)] = {"compounds": len(scoped),
                              "exact": round(sum(r["parts_found"] == r["parts_expected"] for r in scoped)
                                             / max(1, len(scoped)), 3)}
    return {
        "model": model, "compounds": len(rows), "failed_calls": len(rows) - len(asked), "seed": seed,
        "measured_at": time.strftime("%Y-%m-%d"),
        "command": f"python benchmarks/decomposer.py --model {model} --n {n} --seed {seed}",
        "decomposer": {"exact": round(len(right) / max(1, len(asked)), 3),
                       "error_rate": round(1 - len(right) / max(1, len(asked)), 3),
                       "no_split": round(sum(r["parts_found"] is None for r in asked) / max(1, len(asked)), 3),
                       "by_parts": by_size,
                       "seconds_p50": seconds[len(seconds) // 2] if seconds else None,
                       "seconds_max": seconds[-1] if seconds else None},
        "detector": {"recall": round(sum(r["detected"] for r in rows) / max(1, len(rows)), 3),
                     "false_positive_rate_on_single_prompts": round(
                         sum(singles.values()) / max(1, len(singles)), 3),
                     "single_prompts": len(singles)},
    }


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--n", type=int, default=30, help="compound requests")
    parser.add_argument("--seed", type=int, default=41)
    parser.add_argument("--out", default=str(ROOT / "out" / "decomposer"))
    args = parser.parse_args(argv)
    prompts = [json.loads(line)["prompt"] for line in LABELLED.read_text().splitlines() if line.strip()]
    compounds = build_compounds(prompts, args.n, seed=args.seed)
    journal_path = Path(args.out) / f"journal-{args.model}-{args.seed}.jsonl"
    journal_path.parent.mkdir(parents=True, exist_ok=True)
    done = {json.loads(line)["index"]: json.loads(line) for line in
            (journal_path.read_text().splitlines() if journal_path.exists() else []) if line.strip()}
    with journal_path.open("a") as journal:
        for index, compound in enumerate(tqdm(compounds, desc=f"decomposer ({args.model})", unit="request")):
            if index in done:
                continue
            row = {"index": index, "template": compound.template, "detected": detect(compound.text).compound,
                   "parts_expected": [list(r) for r in compound.ranges], **ask(args.model, compound.text)}
            if "reply" in row:
                split, why = parse_split(row["reply"], compound.text)
                row["parts_found"] = [list(r) for r in split.ranges] if split else None
                row["why"] = why
            journal.write(json.dumps(row) + "\n")
            journal.flush()
            done[index] = row
    members = sorted({m for c in compounds for m in c.members})
    singles = {m: detect(prompts[m]).compound for m in members}
    result = summarise([done[i] for i in sorted(done)], singles, args.model, args.n, args.seed)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(OUT.read_text()) if OUT.exists() else {}
    existing[args.model] = result
    OUT.write_text(json.dumps(existing, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
