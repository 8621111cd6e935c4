"""``switchboard collect``: record the catalogue's models on labelled prompts - and what every production
judge says about each answer - in the recorded-outcomes schema that ``train`` and ``eval`` read.

For every (prompt, model): the model answers the prompt through its real provider (the request path's own
``service.tasks.solve``), the answer is graded against the reference (``GRADERS``: option letter, number,
exact text), and the production judges (``service.tasks.run_judge``: self-verification by the answering
model, the logprob judge by it and by an independent model, the answer's own token probabilities
(``confidence``, read from the answering call), the rubric judge by the independent model)
give their verdicts, so ``train`` can calibrate each judge kind and measure how well it separates right
answers from wrong ones.

Everything is appended to ``<out>/journal.jsonl`` as it happens (flushed and fsynced), so an interrupted
run loses nothing it paid for: a rerun skips what the journal holds. ``--max-cost-usd`` is never exceeded:
every call's cost bound (``domain.costs``) is checked against what is left before the call. The Parquet
files (``outcomes.parquet`` in the shared schema, plus ``latency_ms`` and ``mean_logprob``;
``judges.parquet``) are rewritten from the journal at the end of every run.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from switchboard.domain.answers import canonical_answer, extract_choice
from switchboard.domain.catalog import ModelEntry
from switchboard.domain.costs import call_bound, judge_bound
from switchboard.domain.judging import JUDGE_ROLES, JudgeSpec, fan_out, judges_for
from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.state import Candidate, JudgeTask
from switchboard.offline.worked_examples import example_sources, examples_for
from switchboard.ports import ProviderSource
from switchboard.service.tasks import run_judge, solve


class CollectError(ValueError):
    """The prompts or the catalogue cannot be used (the message says which and why)."""


@dataclass(frozen=True)
class LabelledPrompt:
    prompt_id: str
    prompt: str
    category: str
    subcategory: str
    reference: str
    grader: str = "choice"


def sample_prompts(prompts: Sequence[LabelledPrompt], n: int, seed: int) -> list[LabelledPrompt]:
    """``n`` prompts drawn at random (seeded; the same draw for the same file and seed), in file order."""
    import random

    if n >= len(prompts):
        return list(prompts)
    chosen = set(random.Random(seed).sample(range(len(prompts)), n))
    return [p for i, p in enumerate(prompts) if i in chosen]


def load_prompts(path: str | Path, limit: int | None = None) -> list[LabelledPrompt]:
    """JSON lines of ``{prompt_id, prompt, category, subcategory, reference, grader}``."""
    prompts = []
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below; errors name the line
    except OSError as exc:
        raise CollectError(f"{path}: cannot read the prompts: {exc}") from exc
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                prompts.append(LabelledPrompt(
                    prompt_id=str(row["prompt_id"]), prompt=str(row["prompt"]),
                    category=str(row.get("category") or ""),
                    subcategory=str(row.get("subcategory") or row.get("category") or ""),
                    reference=str(row["reference"]), grader=str(row.get("grader") or "choice")))
            except (ValueError, KeyError, TypeError) as exc:
                raise CollectError(f"{path}:{number}: not a labelled prompt (a JSON object with prompt_id, "
                                   f"prompt, reference): {type(exc).__name__}: {exc}") from exc
            if limit is not None and len(prompts) >= limit:
                break
    if not prompts:
        raise CollectError(f"{path}: no prompts")
    return prompts


# ---------------------------------------------------------------------------------------------- graders


def grade_choice(response: str, prompt: str, reference: str) -> tuple[str | None, float]:
    """Option letters: the letter the response chooses (``domain.answers``) against the reference."""
    pred = canonical_answer(response, prompt)
    if pred is None or len(pred) != 1:
        pred = extract_choice(response)
    return pred, float(pred is not None and pred == reference.strip().upper())


# Self-verification's samples recorded per answer, each on its own: ``train`` fits k (AutoMix's number of
# samples) per region among 1, 3 and 5 from them
SELF_VERIFY_SAMPLES = 5
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def grade_number(response: str, prompt: str, reference: str) -> tuple[str | None, float]:
    """Numbers (GSM8K style): the last number the response states, thousands separators dropped, against
    the reference number within 1e-6 relative."""
    numbers = _NUMBER.findall(response.replace(",", ""))
    expected = _NUMBER.findall(reference.replace(",", ""))
    if not numbers or not expected:
        return None, 0.0
    pred, gold = float(numbers[-1]), float(expected[-1])
    return numbers[-1], float(math.isclose(pred, gold, rel_tol=1e-6, abs_tol=1e-9))


def grade_exact(response: str, prompt: str, reference: str) -> tuple[str | None, float]:
    """Exact text after the request path's normalisation (case, whitespace, trailing punctuation)."""
    pred = canonical_answer(response, None)
    return pred, float(pred is not None and pred == canonical_answer(reference, None))


def grade_none(response: str, prompt: str, reference: str) -> tuple[str | None, float]:
    """Ungraded traffic: the answer read the request path's way, no label (``train --labels reference``
    labels it by agreement with a reference)."""
    return canonical_answer(response, prompt), math.nan


GRADERS: dict[str, Callable[[str, str, str], tuple[str | None, float]]] = {
    "choice": grade_choice, "number": grade_number, "exact": grade_exact, "none": grade_none}


# ---------------------------------------------------------------------------------------------- journal


class Journal:
    """Append-only JSON lines of everything collected, durable before the call that produced it returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.outcomes: dict[tuple[str, str], dict] = {}
        self.judges: dict[tuple[str, str, str, int], dict] = {}  # (prompt, model, judge, sample or -1)
        self._lock = threading.Lock()
        if path.exists():
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue  # a line cut short by an interruption
                    self._index(entry)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("a", encoding="utf-8")

    def _index(self, entry: dict) -> None:
        if entry.get("type") == "outcome":
            self.outcomes[(entry["prompt_id"], entry["model"])] = entry
        elif entry.get("type") == "judge":
            sample = entry.get("sample")
            self.judges[(entry["prompt_id"], entry["model"], entry["judge"], -1 if sample is None else sample)] = entry

    def spent(self) -> float:
        """What collecting paid so far (answers a trace had bought already are not collect's spend)."""
        return (sum(e["cost_usd"] for e in self.outcomes.values() if not e.get("from_trace"))
                + sum(e["cost_usd"] for e in self.judges.values()))

    def append(self, entry: dict) -> None:
        with self._lock:
            self._handle.write(json.dumps(entry, separators=(",", ":")) + "\n")
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._index(entry)

    def close(self) -> None:
        self._handle.close()


# ---------------------------------------------------------------------------------------------- collect


@dataclass
class CollectReport:
    prompts: int = 0
    models: list[str] = field(default_factory=list)
    outcomes: int = 0
    judges: int = 0
    new_calls: int = 0
    failures: int = 0
    spent_usd: float = 0.0
    stopped_for_budget: bool = False
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)


class Budget:
    """What is left of ``--max-cost-usd``: a call is made only when its cost bound fits, and reserved."""

    def __init__(self, limit: float | None, spent: float) -> None:
        self.limit, self.spent = limit, spent
        self.exhausted = False
        self._lock = threading.Lock()

    def reserve(self, bound: float) -> bool:
        with self._lock:
            if self.limit is not None and self.spent + bound > self.limit:
                self.exhausted = True
                return False
            self.spent += bound
            return True

    def settle(self, bound: float, actual: float) -> None:
        with self._lock:
            self.spent += actual - bound


def collect(*, catalog: dict[str, ModelEntry], prompts: Sequence[LabelledPrompt], providers: ProviderSource,
            out_dir: str | Path, models: Sequence[str] | None = None, judge_kinds: Sequence[str] = JUDGE_ROLES,
            max_tokens: int = 16, max_cost_usd: float | None = None, concurrency: int = 1,
            progress: bool = True, known: dict[tuple[str, str], dict] | None = None) -> CollectReport:
    """Collect (or resume collecting) outcomes and judge verdicts; see the module docstring."""
    started = time.time()
    out = Path(out_dir)
    models = list(models or catalog)
    unknown = [m for m in models if m not in catalog]
    if unknown:
        raise CollectError(f"models {unknown} are not in the catalogue (known: {sorted(catalog)})")
    unknown_graders = sorted({p.grader for p in prompts} - set(GRADERS))
    if unknown_graders:
        raise CollectError(f"unknown grader(s) {unknown_graders}; known: {sorted(GRADERS)}")
    # the judges of each answer, by the request path's own rule over the collected models as tiers, cheapest
    # first (as the planner orders a catalogue)
    ranked = sorted(models, key=lambda m: (catalog[m].price.cost(1000, 250), m))
    sources = example_sources(prompts)
    write_examples(sources, out / "examples.json")
    journal = Journal(out / "journal.jsonl")
    budget = Budget(max_cost_usd, journal.spent())
    report = CollectReport(prompts=len(prompts), models=models)
    bar: Any = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(prompts), desc="collect", unit="prompt")
    lock = threading.Lock()

    def note(field_name: str) -> None:
        with lock:
            setattr(report, field_name, getattr(report, field_name) + 1)

    def answer(prompt: LabelledPrompt, model: str, request: ChatRequest) -> dict | None:
        outcome = journal.outcomes.get((prompt.prompt_id, model))
        if outcome is not None:
            return outcome
        bought = (known or {}).get((prompt.prompt_id, model))
        if bought is not None:  # the trace bought it already: recorded as it was, nothing paid again
            pred, correct = GRADERS[prompt.grader](str(bought["response"]), prompt.prompt, prompt.reference)
            outcome = {"type": "outcome", "prompt_id": prompt.prompt_id, "prompt": prompt.prompt,
                       "category": prompt.category, "subcategory": prompt.subcategory, "reference": prompt.reference,
                       "model": model, "response": str(bought["response"]), "pred": pred, "correct": correct,
                       "input_tokens": bought.get("input_tokens"), "output_tokens": bought.get("output_tokens"),
                       "cost_usd": float(bought.get("cost_usd") or 0.0),
                       "latency_ms": float(bought.get("latency_ms") or 0.0), "finish_reason": "stop",
                       "mean_logprob": None, "from_trace": True}
            journal.append(outcome)
            return outcome
        bound = call_bound(catalog[model].price, request.messages, max_tokens)
        if not budget.reserve(bound):
            return None
        try:
            candidate = solve(model, request, catalog, providers)
        except Exception as exc:  # noqa: BLE001 - recorded; a rerun retries it
            budget.settle(bound, 0.0)
            journal.append({"type": "failure", "prompt_id": prompt.prompt_id, "model": model,
                            "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
            note("failures")
            return None
        budget.settle(bound, candidate.cost_usd)
        pred, correct = GRADERS[prompt.grader](candidate.text, prompt.prompt, prompt.reference)
        outcome = {"type": "outcome", "prompt_id": prompt.prompt_id, "prompt": prompt.prompt,
                   "category": prompt.category, "subcategory": prompt.subcategory,
                   "reference": prompt.reference, "model": model, "response": candidate.text, "pred": pred,
                   "correct": correct, "input_tokens": candidate.usage.input_tokens,
                   "output_tokens": candidate.usage.output_tokens, "cost_usd": candidate.cost_usd,
                   "latency_ms": round(candidate.latency_ms, 1), "finish_reason": candidate.finish_reason,
                   "mean_logprob": candidate.mean_logprob}
        journal.append(outcome)
        note("new_calls")
        return outcome

    def judge(prompt: LabelledPrompt, request: ChatRequest, outcome: dict, spec: JudgeSpec) -> None:
        model = outcome["model"]
        if (prompt.prompt_id, model, spec.name, -1 if spec.sample is None else spec.sample) in journal.judges:
            return
        bound = judge_bound(request, spec, catalog[spec.model or model])
        if not budget.reserve(bound):
            return
        candidate = Candidate(model=model, text=outcome["response"], finish_reason=outcome.get("finish_reason"),
                              canonical=outcome["pred"], mean_logprob=outcome.get("mean_logprob"))
        verdict = run_judge(JudgeTask(judge=spec, request=request, candidate=candidate), catalog, providers)
        budget.settle(bound, verdict.cost_usd)
        journal.append({"type": "judge", "prompt_id": prompt.prompt_id, "model": model, "judge": spec.name,
                        "kind": spec.kind, "judge_model": spec.model,
                        "role": "self" if spec.model == model else "other", "score": verdict.score,
                        "failed": verdict.failed, "cost_usd": verdict.cost_usd, "sample": spec.sample,
                        "latency_ms": verdict.latency_ms, "detail": verdict.detail[:200]})
        note("new_calls")

    def unit(prompt: LabelledPrompt) -> None:
        """One prompt: every model answers, then the judges run grouped by judge model, so each judge
        model's calls share the conversation prefix it has just processed (its KV cache)."""
        request = ChatRequest(messages=[Message(role="user", content=prompt.prompt)], max_tokens=max_tokens)
        outcomes = [o for o in (answer(prompt, m, request) for m in models) if o is not None]
        examples = examples_for(prompt, sources)  # other prompts of its category, graded
        work = [(spec, o) for o in outcomes
                for spec in fan_out(judges_for(o["model"], ranked, judge_kinds, SELF_VERIFY_SAMPLES, catalog, examples))]
        for spec, outcome in sorted(work, key=lambda w: (w[0].model or "", w[1]["model"])):
            judge(prompt, request, outcome, spec)
        if bar is not None:
            with lock:
                bar.update(1)
                bar.set_postfix_str(f"${budget.spent:.6f}")

    try:
        if concurrency <= 1:
            for prompt in prompts:
                unit(prompt)
        else:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                list(pool.map(unit, prompts))
    finally:
        journal.close()
        if bar is not None:
            bar.close()
    report.stopped_for_budget = budget.exhausted
    report.spent_usd = round(budget.spent, 8)
    report.files = [str(p) for p in write_parquet(journal, out)]
    report.outcomes, report.judges = len(journal.outcomes), len(journal.judges)
    report.seconds = round(time.time() - started, 1)
    return report


def write_parquet(journal: Journal, out: Path) -> list[Path]:
    """``outcomes.parquet`` (the shared schema + latency_ms and mean_logprob, the answer's mean token
    log-probability where the provider gave one) and ``judges.parquet`` from the journal."""
    import pandas as pd

    columns = ["prompt_id", "prompt", "category", "subcategory", "reference", "model", "response", "pred", "correct",
               "input_tokens", "output_tokens", "cost_usd", "latency_ms", "mean_logprob"]
    outcomes = pd.DataFrame([{c: e.get(c) for c in columns} for e in journal.outcomes.values()], columns=columns)
    judges = pd.DataFrame(list(journal.judges.values()),
                          columns=["prompt_id", "model", "judge", "kind", "judge_model", "role", "score", "failed",
                                   "cost_usd", "latency_ms", "detail", "sample"])
    paths = [out / "outcomes.parquet", out / "judges.parquet"]
    outcomes.to_parquet(paths[0], index=False)
    judges.drop(columns=["type"], errors="ignore").to_parquet(paths[1], index=False)
    return paths


def write_examples(sources: dict, path: Path) -> None:
    """``examples.json``: per category, the worked examples its prompts' self-verifications are shown (a
    prompt that is a source itself sees the others'), for ``train`` to put into the judge policy."""
    from switchboard.offline.worked_examples import examples_for

    path.parent.mkdir(parents=True, exist_ok=True)
    outsider = LabelledPrompt(prompt_id="", prompt="", category="", subcategory="", reference="")
    body = {category: [e.model_dump() for e in examples_for(replace(outsider, category=category), sources)]
            for category in sorted(sources)}
    path.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
