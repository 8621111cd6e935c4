"""AutoMix's self-verification on the local pool: few-shot (worked examples, as shipped now) against zero-shot
(before), each sampled k times, on labelled prompts answered by a real local model.

For every prompt the model answers once through the request path (``service.tasks.solve``); then its own
answer is self-verified ``--samples`` times zero-shot and ``--samples`` times few-shot, each sample one judge
task (``service.tasks.run_judge``, the judge Lambda's work), the few-shot ones shown the worked examples of
the prompt's category (``offline.worked_examples``, built from prompts kept out of the measured ones). The
score of k samples is the share of CORRECT among the first k, as the decide step folds them. Reported: the
AUROC of that score against the grade (with its Hanley-McNeil standard error), for k = 1, 3, 5, per category
and overall, and few-shot's gain over zero-shot with a paired bootstrap interval; each sample's latency and
a judge step's (k samples one after another: the local GGUF provider runs one inference at a time; on a
provider that serves calls side by side the step takes about one sample's time).

Prompts: RouterBench's ARC-Challenge and Winogrande from ``../shared/data/labelled`` and everyday arithmetic
(``benchmarks/arithmetic_prompts.py``, a seed of its own). Every call is journaled under ``--out`` (which is
not committed: it holds outcomes of the development data), so an interrupted run resumes; the aggregate
figures go to ``benchmarks/out/self_verification.json``.

    .venv/bin/python benchmarks/self_verification.py --n-arc 110 --n-wino 90 --n-arith 110
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from switchboard.domain.judging import JudgeSpec  # noqa: E402
from switchboard.domain.requests import ChatRequest, Message  # noqa: E402
from switchboard.domain.state import Candidate, JudgeTask  # noqa: E402
from switchboard.offline.collect import GRADERS, LabelledPrompt, load_prompts  # noqa: E402
from switchboard.offline.judge_stats import auroc, auroc_standard_error  # noqa: E402
from switchboard.offline.worked_examples import example_sources, examples_for  # noqa: E402
from switchboard.ports import ProviderError  # noqa: E402

LABELLED = ROOT.parent / "shared" / "data" / "labelled" / "routerbench_mc.jsonl"
OUT = ROOT / "benchmarks" / "out" / "self_verification.json"
MAX_TOKENS = {"choice": 16, "number": 256}


def prompts(args: argparse.Namespace) -> tuple[list[LabelledPrompt], list[LabelledPrompt]]:
    """(measured prompts, the pool the worked examples are built from), disjoint."""
    from arithmetic_prompts import generate

    rng = random.Random(args.seed)
    labelled = load_prompts(LABELLED)
    measured, pool = [], []
    for category, n in (("arc-challenge", args.n_arc), ("winogrande", args.n_wino)):
        rows = [p for p in labelled if p.category == category]
        rng.shuffle(rows)
        measured += rows[:n]
        pool += rows[n:n + 20]
    arithmetic = [LabelledPrompt(prompt_id=r["prompt_id"], prompt=r["prompt"], category=r["category"],
                                 subcategory=r["subcategory"], reference=r["reference"], grader=r["grader"])
                  for r in generate(args.n_arith + 20, args.seed + 1000)]
    return measured + arithmetic[:args.n_arith], pool + arithmetic[args.n_arith:]


def run(args: argparse.Namespace) -> dict:
    from tqdm import tqdm

    from switchboard.adapters.providers.registry import ProviderRegistry
    from switchboard.domain.catalog import ModelEntry
    from switchboard.service.tasks import run_judge, solve

    catalog_file = ROOT / "src" / "switchboard" / "data" / "catalog.local.json"
    catalog = {e["model_id"]: ModelEntry.model_validate(e) for e in json.loads(catalog_file.read_text())}
    providers = ProviderRegistry()
    measured, pool = prompts(args)
    sources = example_sources(pool)
    journal_path = Path(args.out) / "journal.jsonl"
    journal_path.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if journal_path.exists():
        for line in journal_path.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            done[row["prompt_id"]] = row
    with journal_path.open("a") as journal:
        for prompt in tqdm(measured, desc=f"self-verification ({args.model})", unit="prompt"):
            if prompt.prompt_id in done:
                continue
            request = ChatRequest(messages=[Message(role="user", content=prompt.prompt)],
                                  max_tokens=MAX_TOKENS[prompt.grader])
            try:
                answer = solve(args.model, request, catalog, providers)
            except ProviderError as exc:  # e.g. a generation past the provider's timeout: no answer to verify
                row = {"prompt_id": prompt.prompt_id, "category": prompt.category, "skipped": type(exc).__name__}
                journal.write(json.dumps(row) + "\n")
                journal.flush()
                done[prompt.prompt_id] = row
                continue
            _, correct = GRADERS[prompt.grader](answer.text, prompt.prompt, prompt.reference)
            row = {"prompt_id": prompt.prompt_id, "category": prompt.category, "correct": correct,
                   "answer_ms": answer.latency_ms, "finish_reason": answer.finish_reason}
            candidate = Candidate(model=args.model, text=answer.text, finish_reason=answer.finish_reason)
            for mode, examples in (("zero_shot", []), ("few_shot", examples_for(prompt, sources))):
                samples = []
                for i in range(args.samples):
                    spec = JudgeSpec(kind="self_verify", model=args.model, sample=i, examples=examples)
                    verdict = run_judge(JudgeTask(judge=spec, request=request, candidate=candidate), catalog, providers)
                    samples.append({"score": verdict.score, "failed": verdict.failed, "ms": verdict.latency_ms})
                row[mode] = samples
            journal.write(json.dumps(row) + "\n")
            journal.flush()
            done[prompt.prompt_id] = row
    return summarise([done[p.prompt_id] for p in measured if p.prompt_id in done], args)


def _answered(rows: list[dict]) -> list[dict]:
    return [r for r in rows if "skipped" not in r]


def _share(samples: list[dict], k: int) -> float | None:
    votes = [s["score"] for s in samples[:k] if s["score"] is not None and not s["failed"]]
    return sum(votes) / len(votes) if votes else None


def _auroc(rows: list[dict], mode: str, k: int) -> dict:
    pairs = [(_share(r[mode], k), r["correct"]) for r in rows]
    stated = [(s, c) for s, c in pairs if s is not None]
    area = auroc([s for s, _ in stated], [c for _, c in stated]) if stated else None
    right = sum(1 for _, c in stated if c)
    se = None if area is None else auroc_standard_error(area, right, len(stated) - right)
    return {"auroc": None if area is None else round(area, 4), "standard_error": None if se is None else round(se, 4),
            "abstained": round(1 - len(stated) / max(1, len(rows)), 4)}


def _paired_gain(rows: list[dict], k: int, resamples: int = 2000, seed: int = 0) -> dict | None:
    """Few-shot's AUROC minus zero-shot's at k, on the prompts both scored, with a 95 % interval from a
    bootstrap over prompts (the two are scored on the same prompts, so their errors are paired)."""
    import numpy as np

    both = [(_share(r["zero_shot"], k), _share(r["few_shot"], k), r["correct"]) for r in rows]
    both = [b for b in both if b[0] is not None and b[1] is not None]
    if len({b[2] for b in both}) < 2:
        return None
    zero, few, label = (np.asarray(x, dtype=float) for x in zip(*both, strict=True))
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(resamples):
        pick = rng.integers(0, len(label), len(label))
        z, f = auroc(zero[pick].tolist(), label[pick].tolist()), auroc(few[pick].tolist(), label[pick].tolist())
        if z is not None and f is not None:
            gains.append(f - z)
    point = (auroc(few.tolist(), label.tolist()) or 0.0) - (auroc(zero.tolist(), label.tolist()) or 0.0)
    low, high = np.percentile(gains, [2.5, 97.5])
    return {"gain": round(point, 4), "ci95": [round(float(low), 4), round(float(high), 4)], "prompts": len(label)}


def summarise(journaled: list[dict], args: argparse.Namespace) -> dict:
    rows = _answered(journaled)  # prompts whose answer failed (a provider error) have nothing to verify
    ks = [k for k in (1, 3, 5) if k <= args.samples]
    scopes = {"all": rows, **{c: [r for r in rows if r["category"] == c] for c in sorted({r["category"] for r in rows})}}
    out: dict = {"model": args.model, "prompts": len(rows), "skipped": len(journaled) - len(rows),
                 "samples": args.samples,
                 "accuracy": round(sum(r["correct"] for r in rows) / max(1, len(rows)), 4),
                 "measured_at": time.strftime("%Y-%m-%d"),
                 "command": "python benchmarks/self_verification.py " + " ".join(sys.argv[1:]), "scopes": {}}
    for name, scoped in scopes.items():
        out["scopes"][name] = {"prompts": len(scoped), "accuracy": round(sum(r["correct"] for r in scoped) / max(1, len(scoped)), 4),
                               **{f"{mode}@{k}": _auroc(scoped, mode, k) for mode in ("zero_shot", "few_shot") for k in ks},
                               **{f"few_minus_zero@{k}": _paired_gain(scoped, k) for k in ks}}
    for mode in ("zero_shot", "few_shot"):
        per_sample = [s["ms"] for r in rows for s in r[mode]]
        out[f"{mode}_latency_ms"] = {
            "per_sample_mean": round(sum(per_sample) / max(1, len(per_sample)), 1),
            "first_sample_mean": round(sum(r[mode][0]["ms"] for r in rows) / max(1, len(rows)), 1),
            **{f"step_k{k}_sequential_mean": round(sum(sum(s["ms"] for s in r[mode][:k]) for r in rows) / max(1, len(rows)), 1)
               for k in ks}}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--n-arc", type=int, default=110)
    parser.add_argument("--n-wino", type=int, default=90)
    parser.add_argument("--n-arith", type=int, default=110)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--out", default=str(ROOT / "out" / "self_verification"))
    parser.add_argument("--summary-only", action="store_true", help="summarise the journal without new calls")
    args = parser.parse_args(argv)
    if args.summary_only:
        rows = [json.loads(line) for line in (Path(args.out) / "journal.jsonl").read_text().splitlines() if line.strip()]
        result = summarise(rows, args)
    else:
        result = run(args)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
