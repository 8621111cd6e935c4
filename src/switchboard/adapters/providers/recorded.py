"""Replay provider: serves a recorded model's answer to a recorded prompt, with its recorded cost.

It implements the same ``Provider`` protocol as the real adapters, so the whole cascade (tiers, judges,
``decide``, traces) can run over recorded outcomes (``switchboard.offline.outcomes.RecordedOutcomes``). The
prompt is the last user message, matched exactly against the recorded prompt texts; a prompt that was not
recorded is a ``ProviderRejected`` (a 4xx: not retried, the cascade falls through to the next tier).
Token counts are the recorded ones, or characters / 4 where the data has none.
"""

from __future__ import annotations

import math
import time
from typing import Any

from switchboard.ports import Completion, CompletionRequest, ProviderRejected


def _tokens(recorded: Any, text: str) -> int:
    try:
        value = float(recorded)
    except (TypeError, ValueError):
        value = math.nan
    if math.isnan(value):
        return max(1, len(text) // 4)
    return int(value)


class RecordedAnswers:
    """``RecordedAnswers(dataset, model)``: one recorded model of a ``RecordedOutcomes`` dataset."""

    def __init__(self, dataset, model: str) -> None:  # noqa: ANN001 - RecordedOutcomes (offline extra)
        self.dataset = dataset
        self.model = model
        self._j = dataset.model_index(model)

    def _row(self, prompt: str) -> int:
        row = self.dataset.prompt_index(prompt)
        if row is None:
            raise ProviderRejected(f"replay: no recorded answer of {self.model} for this prompt")
        return row

    def recorded_cost(self, prompt: str) -> float:
        """Recorded cost (USD) of this model's call on ``prompt``."""
        return float(self.dataset.cost[self._row(prompt), self._j])

    def complete(self, request: CompletionRequest) -> Completion:
        messages = request.messages
        start = time.perf_counter()
        prompt = next((m.content for m in reversed(messages) if m.role == "user"), None)
        if prompt is None:
            raise ProviderRejected("replay: the request has no user message")
        i = self._row(prompt)
        text = str(self.dataset.responses[i, self._j] or "")
        return Completion(
            text=text,
            input_tokens=_tokens(self.dataset.input_tokens[i, self._j], prompt),
            output_tokens=_tokens(self.dataset.output_tokens[i, self._j], text),
            finish_reason="stop",
            latency_ms=(time.perf_counter() - start) * 1000.0,
            cost_usd=float(self.dataset.cost[i, self._j]),
            # A benchmark's own answer extraction (MMLU-Pro's pred) is served as recorded; otherwise the
            # request path reads the answer from the text, as training did.
            canonical_answer=self.dataset.answers[i, self._j] if self.dataset.answers_recorded else None,
            canonical_recorded=bool(self.dataset.answers_recorded),
            mean_logprob=self._mean_logprob(i),
        )

    def _mean_logprob(self, row: int) -> float | None:
        """The answer's recorded mean token log-probability, where the data has one."""
        recorded = getattr(self.dataset, "mean_logprob", None)
        if recorded is None or math.isnan(float(recorded[row, self._j])):
            return None
        return float(recorded[row, self._j])


class RecordedProviders:
    """A ``ProviderSource`` that serves every catalogue model from recorded outcomes (the entry's
    ``provider_model`` names the recorded model): how ``switchboard eval --via-stack`` runs the real
    stack with recorded answers."""

    def __init__(self, dataset) -> None:  # noqa: ANN001 - RecordedOutcomes (offline extra)
        self.dataset = dataset
        self._built: dict[str, RecordedAnswers] = {}

    def provider_for(self, entry) -> RecordedAnswers:  # noqa: ANN001 - ModelEntry
        if entry.provider_model not in self._built:
            self._built[entry.provider_model] = RecordedAnswers(self.dataset, entry.provider_model)
        return self._built[entry.provider_model]
