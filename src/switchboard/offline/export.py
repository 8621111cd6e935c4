"""``switchboard export``: production traces with feedback become training rows.

A caller scores an answer with ``POST /v1/feedback`` (``score`` in [0, 1]); the trace keeps the score beside
what the cascade did. Each trace with feedback gives:

- the answer it returned, labelled with the mean feedback score;
- every other answer the cascade bought for the request whose comparable answer (``Candidate.canonical``: an
  option letter, a number, canonical code, normalised text) is known: the same answer as the scored one
  takes its score; a different answer is labelled wrong when the scored one was right (score 1), and left
  out otherwise (two answers can both be wrong).

Rows are written in the recorded-outcomes schema of ``../shared/data`` (plus ``latency_ms`` and
``source = "traffic"``). They are sparse - a prompt has rows only for the models its cascade ran - while
``train`` learns from every model on every prompt; ``switchboard collect --from-traces ROWS`` closes the
gap: each prompt with an answer scored correct gets that answer as its reference (``labelled_prompts``),
every catalogue model answers it and is graded against it, and the result is read by ``train`` beside
earlier outcomes. The prompt id is the trace id. Traces come from the deployed stack's traces table (DynamoDB Scan) or from
the local stack's state directory (its journal of the traces table).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from switchboard.domain.state import Candidate
from switchboard.offline.collect import LabelledPrompt
from switchboard.ports import Trace

LOCAL_TRACES_FILE = "TracesTable.jsonl"
COLUMNS = ["prompt_id", "prompt", "category", "subcategory", "reference", "model", "response", "pred", "correct",
           "input_tokens", "output_tokens", "cost_usd", "latency_ms", "source"]


class ExportError(ValueError):
    """The traces cannot be read (the message says where and why)."""


def traces_from_items(items: Iterable[dict[str, Any]]) -> Iterator[Trace]:
    """Traces from DynamoDB items (``body`` holds the trace JSON); unreadable items are skipped."""
    for item in items:
        body = (item.get("body") or {}).get("S")
        if not body:
            continue
        try:
            yield Trace.model_validate_json(body)
        except ValueError:
            continue


def local_traces(state_dir: str | Path) -> list[Trace]:
    """The local stack's traces, from its journal (``switchboard local --state-dir``)."""
    from switchboard.local.journal import Journal

    path = Path(state_dir) / LOCAL_TRACES_FILE
    if not path.is_file():
        raise ExportError(f"{path} does not exist: no traces were kept there (the local stack keeps them in "
                          "--state-dir, default ~/.cache/switchboard/state, unless --ephemeral)")
    return list(traces_from_items(Journal(state_dir, {}).items(LOCAL_TRACES_FILE[: -len(".jsonl")])))


def table_traces(table: str, client: Any) -> list[Trace]:
    """Every trace of a DynamoDB traces table (a paginated Scan; ``client`` is a boto3 DynamoDB client)."""
    items: list[dict[str, Any]] = []
    try:
        for page in client.get_paginator("scan").paginate(TableName=table):
            items.extend(page.get("Items", []))
    except Exception as exc:  # botocore ClientError, no credentials, no network
        raise ExportError(f"cannot scan table {table}: {exc}") from exc
    return list(traces_from_items(items))


def _score(trace: Trace) -> float | None:
    scores = [float(f["score"]) for f in trace.feedback if isinstance(f.get("score"), int | float)]
    return sum(scores) / len(scores) if scores else None


def _row(trace: Trace, candidate: Candidate, correct: float | None) -> dict[str, Any]:
    state = trace.state
    assert state is not None
    category = (state.plan.category if state.plan is not None else None) or "traffic"
    return {"prompt_id": trace.trace_id, "prompt": state.request.prompt, "category": category,
            "subcategory": category, "reference": None, "model": candidate.model, "response": candidate.text,
            "pred": candidate.canonical, "correct": correct, "input_tokens": candidate.usage.input_tokens,
            "output_tokens": candidate.usage.output_tokens, "cost_usd": candidate.cost_usd,
            "latency_ms": candidate.latency_ms, "source": "traffic"}


def unlabelled_rows(traces: Iterable[Trace]) -> list[dict[str, Any]]:
    """Every answer bought for a trace nobody scored, unlabelled (``correct`` empty): traffic for
    ``collect --from-traces`` to complete and ``train --labels reference`` to label by a reference."""
    rows = []
    for trace in traces:
        state = trace.state
        if _score(trace) is not None or state is None or not state.attempts:
            continue
        for answer in _bought(state).values():
            rows.append(_row(trace, answer, None))
    return rows


def _bought(state: Any) -> dict[str, Candidate]:
    """Each answer a request bought (a tier's or a judge's), by model."""
    answers: dict[str, Candidate] = {}
    for attempt in state.attempts:
        if attempt.candidate is not None and not attempt.candidate.reused:
            answers.setdefault(attempt.candidate.model, attempt.candidate)
    for model, answer in state.answers.items():
        if not answer.reused:
            answers.setdefault(model, answer)
    return answers


def training_rows(traces: Iterable[Trace]) -> list[dict[str, Any]]:
    """The labelled answers of every trace with feedback (see the module docstring)."""
    rows = []
    for trace in traces:
        score = _score(trace)
        state = trace.state
        if score is None or state is None or state.decision is None or state.decision.answer_tier is None:
            continue
        answers = _bought(state)
        chosen = next((a for a in state.attempts if a.tier == state.decision.answer_tier), None)
        if chosen is None:
            continue
        returned_model = chosen.answer_model or chosen.model
        returned = answers.get(returned_model) or chosen.candidate
        if returned is None:
            continue
        rows.append(_row(trace, returned, score))
        for model, answer in answers.items():
            if model == returned_model or answer.canonical is None or returned.canonical is None:
                continue
            if answer.canonical == returned.canonical:
                rows.append(_row(trace, answer, score))
            elif score >= 1.0:
                rows.append(_row(trace, answer, 0.0))
    return rows


_LETTER = re.compile(r"^[A-Z]$")
_NUMERIC = re.compile(r"^-?\d+(?:\.\d+)?$")


def traffic_prompts(rows: Iterable[dict[str, Any]]) -> list[LabelledPrompt]:
    """Every traffic prompt of ``rows``, ungraded (``grader`` "none"), for ``collect --from-traces
    --labels reference``: every catalogue model answers it, and ``train --labels reference`` labels them."""
    seen: dict[str, LabelledPrompt] = {}
    for row in rows:
        prompt_id = str(row["prompt_id"])
        if prompt_id not in seen:
            seen[prompt_id] = LabelledPrompt(prompt_id=prompt_id, prompt=str(row["prompt"]),
                                             category=str(row["category"]),
                                             subcategory=str(row.get("subcategory") or row["category"]),
                                             reference="", grader="none")
    return list(seen.values())


def known_answers(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(prompt id, model) -> the answer a trace already bought, so ``collect`` does not pay for it again."""
    return {(str(r["prompt_id"]), str(r["model"])): r for r in rows if r.get("response") is not None}


def labelled_prompts(rows: Iterable[dict[str, Any]]) -> list[LabelledPrompt]:
    """Traffic prompts a caller has labelled, for ``collect --from-traces``: an answer scored correct
    (feedback 1.0) is the prompt's reference, so every catalogue model can then be run on the prompt and
    graded against it - which turns traffic into full rows (every model on the prompt) that ``train`` reads.
    Prompts with no answer scored correct have no reference and are left out (feedback 0 says what is
    wrong, not what is right); prompts whose correct answers disagree are left out too."""
    references: dict[str, set[str]] = {}
    first: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.get("correct") is None or float(row["correct"]) < 1.0 or not row.get("pred"):
            continue
        references.setdefault(str(row["prompt_id"]), set()).add(str(row["pred"]))
        first.setdefault(str(row["prompt_id"]), row)
    prompts = []
    for prompt_id, refs in references.items():
        if len(refs) != 1:
            continue
        reference = next(iter(refs))
        grader = "choice" if _LETTER.match(reference) else "number" if _NUMERIC.match(reference) else "exact"
        row = first[prompt_id]
        prompts.append(LabelledPrompt(prompt_id=prompt_id, prompt=str(row["prompt"]), category=str(row["category"]),
                                      subcategory=str(row.get("subcategory") or row["category"]),
                                      reference=reference, grader=grader))
    return prompts


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow's errors: not a readable file
        raise ExportError(f"{path}: not a readable Parquet file of exported rows ({exc})") from exc
    return frame.to_dict("records")


def write_rows(rows: list[dict[str, Any]], path: str | Path) -> Path:
    import pandas as pd

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=COLUMNS).to_parquet(path, index=False)
    return path


def summary(traces: list[Trace], rows: list[dict[str, Any]]) -> dict[str, Any]:
    scored = sum(1 for t in traces if _score(t) is not None)
    return {"traces": len(traces), "with_feedback": scored, "rows": len(rows),
            "models": sorted({r["model"] for r in rows}),
            "unlabelled": sum(1 for r in rows if r["correct"] is None),
            "mean_label": round(sum(labels) / len(labels), 4) if (labels := [r["correct"] for r in rows
                                                                         if r["correct"] is not None]) else None}


def dumps(value: Any) -> str:
    return json.dumps(value, indent=1)
