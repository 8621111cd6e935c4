"""What ``switchboard collect`` recorded, read back for measuring judges: every model's answer to every
prompt (its grade, latency and cost) and every judge role's verdict on it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchboard.domain.catalog import ModelEntry
from switchboard.domain.judging import judges_for


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
        verdicts = {(r["prompt_id"], r["model"], r["judge"]): r for r in judges.to_dict("records")}
        return cls(models=models, prompt_ids=prompt_ids, correct=correct, answer=answer, verdicts=verdicts,
                   texts=texts, categories=categories)

    def role_rows(self, prompts: Sequence[str], role: str) -> list[dict[str, Any]]:
        """The verdicts of one role on every model's answer to ``prompts``."""
        rows = []
        for p in prompts:
            for m in self.models:
                for name in self._names(m, role):
                    found = self.verdicts.get((p, m, name))
                    if found is not None:
                        rows.append({**found, "correct": self.correct[(p, m)]})
        return rows

    def _names(self, model: str, role: str) -> list[str]:
        """The judge names a role's verdicts on ``model``'s answers were recorded under: the request path's
        rule (``judging.judges_for``) over the collected models as tiers, cheapest first, as collect ran it."""
        return [j.name for j in judges_for(model, self.models, [role], 1, {})]
