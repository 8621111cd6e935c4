"""What ``switchboard collect`` recorded, read back for measuring judges: every model's answer to every
prompt (its grade, latency and cost) and every judge role's verdict on it."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchboard.domain.catalog import ModelEntry
from switchboard.domain.judging import WorkedExample, judges_for


class JudgeDataError(ValueError):
    """The collected files cannot be used (the message says why)."""


@dataclass
class Collected:
    """Collected answers and verdicts, indexed for replay."""

    models: list[str]  # cheapest first
    prompt_ids: list[str]
    correct: dict[tuple[str, str], float]  # (prompt, model) -> 0/1
    answer: dict[tuple[str, str], dict[str, Any]]  # (prompt, model) -> latency_ms, cost_usd, text
    verdicts: dict[tuple[str, str, str], dict[str, Any]]  # (prompt, model, judge name) -> row
    texts: dict[str, str] = field(default_factory=dict)  # prompt -> its text
    categories: dict[str, str] = field(default_factory=dict)  # prompt -> its category ("" if none)
    # prompt -> the judge region ``JudgePolicy.locate`` placed it in (``place``); empty: no regions
    region: dict[str, str | None] = field(default_factory=dict)
    # (prompt, model, judge name) -> a fanned-out judge's samples, in order (self-verification's k)
    samples: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)
    # category -> the worked examples its prompts' self-verifications were shown (collect's examples.json)
    examples: dict[str, list[WorkedExample]] = field(default_factory=dict)

    @classmethod
    def read(cls, directory: str | Path, catalog: dict[str, ModelEntry] | None = None) -> Collected:
        import pandas as pd

        directory = Path(directory)
        try:
            outcomes = pd.read_parquet(directory / "outcomes.parquet")
            judges = pd.read_parquet(directory / "judges.parquet")
        except (OSError, ValueError) as exc:
            raise JudgeDataError(f"{directory}: no collected outcomes and verdicts (switchboard collect "
                                 f"writes outcomes.parquet and judges.parquet): {exc}") from exc
        if judges.empty:
            raise JudgeDataError(f"{directory}/judges.parquet has no verdicts (collect ran with --judges '')")
        cost = outcomes.groupby("model")["cost_usd"].mean().to_dict()
        if catalog:
            def price(m: str) -> float:
                return catalog[m].price.cost(1000, 250) if m in catalog else cost[m]
        else:
            def price(m: str) -> float:
                return cost[m]
        models = sorted(cost, key=lambda m: (price(m), m))
        complete = outcomes.groupby("prompt_id")["model"].nunique()
        prompt_ids = sorted(complete[complete == len(models)].index)
        correct, answer, texts, categories = {}, {}, {}, {}
        for row in outcomes.to_dict("records"):
            key = (row["prompt_id"], row["model"])
            correct[key] = float(row["correct"])
            answer[key] = {"latency_ms": float(row.get("latency_ms") or 0.0),
                           "cost_usd": float(row.get("cost_usd") or 0.0), "text": str(row["response"])}
            texts[row["prompt_id"]] = str(row.get("prompt") or "")
            categories[row["prompt_id"]] = str(row.get("category") or "")
        verdicts: dict[tuple[str, str, str], dict[str, Any]] = {}
        samples: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for r in judges.to_dict("records"):
            judged = (str(r["prompt_id"]), str(r["model"]), str(r["judge"]))
            sample = r.get("sample")
            if sample is None or (isinstance(sample, float) and math.isnan(sample)):
                verdicts[judged] = r
            else:
                samples.setdefault(judged, []).append(r)
        for judged, rows in samples.items():
            rows.sort(key=lambda r: r["sample"])
            verdicts[judged] = combined(rows)
        examples: dict[str, list[WorkedExample]] = {}
        if (directory / "examples.json").is_file():
            raw = json.loads((directory / "examples.json").read_text(encoding="utf-8"))
            examples = {c: [WorkedExample.model_validate(e) for e in es] for c, es in raw.items()}
        return cls(models=models, prompt_ids=prompt_ids, correct=correct, answer=answer, verdicts=verdicts,
                   texts=texts, categories=categories, samples=samples, examples=examples)

    def verdict_row(self, prompt: str, model: str, judge: str, k: int | None = None) -> dict[str, Any] | None:
        """What a judge said of ``model``'s answer to ``prompt``: its row, or - for a judge whose samples
        were recorded one by one - the first ``k`` samples combined (all when None)."""
        rows = self.samples.get((prompt, model, judge))
        if rows is None:
            return self.verdicts.get((prompt, model, judge))
        return combined(rows[:k] if k is not None else rows)

    @property
    def samples_recorded(self) -> int:
        """The most samples recorded of any fanned-out judge (0: none was)."""
        return max((len(rows) for rows in self.samples.values()), default=0)

    def role_rows(self, prompts: Sequence[str], role: str, k: int | None = None) -> list[dict[str, Any]]:
        """The verdicts of one role on every model's answer to ``prompts`` (a fanned-out role's first ``k``
        samples combined)."""
        rows = []
        for p in prompts:
            for m in self.models:
                for name in self._names(m, role):
                    found = self.verdict_row(p, m, name, k)
                    if found is not None:
                        rows.append({**found, "correct": self.correct[(p, m)]})
        return rows

    def _names(self, model: str, role: str) -> list[str]:
        """The judge names a role's verdicts on ``model``'s answers were recorded under: the request path's
        rule (``judging.judges_for``) over the collected models as tiers, cheapest first, as collect ran it."""
        return [j.name for j in judges_for(model, self.models, [role], 1, {})]


def stated(score: Any) -> float | None:
    """A recorded score, or None where the judge abstained (missing or NaN in the Parquet file)."""
    return None if score is None or (isinstance(score, float) and math.isnan(score)) else float(score)


def combined(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Samples of one fanned-out judge as one verdict row, as the decide step folds them: the share of
    CORRECT among the samples that stated a verdict, failed only when every sample failed, the cost of all;
    the latency of all of them one after another (as on a single CPU; side by side it is the slowest's)."""
    scores = [stated(r["score"]) for r in samples if not r["failed"]]
    votes = [s for s in scores if s is not None]
    return {**samples[0], "score": sum(votes) / len(votes) if votes else None,
            "failed": all(bool(r["failed"]) for r in samples), "cost_usd": sum(float(r["cost_usd"]) for r in samples),
            "latency_ms": sum(float(r["latency_ms"]) for r in samples), "samples": len(samples), "sample": None}
