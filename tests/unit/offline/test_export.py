"""``switchboard export``: traces with feedback become labelled rows in the recorded-outcomes schema."""

from __future__ import annotations

import pandas as pd

from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.state import Attempt, Candidate, CascadeState, Decision, Plan, TierSpec
from switchboard.offline.export import COLUMNS, traces_from_items, training_rows, write_rows
from switchboard.ports import Trace


def _trace(trace_id: str, keys: dict[str, str | None], answered: str, feedback: list[float]) -> Trace:
    models = list(keys)
    attempts = [Attempt(tier=i, model=m, candidate=Candidate(model=m, text=f"answer {keys[m]}", canonical=keys[m],
                                                               cost_usd=0.001 * (i + 1)))
                for i, m in enumerate(models)]
    plan = Plan(tiers=[TierSpec(model=m) for m in models], route="taxonomy", category="science")
    state = CascadeState(request_id=trace_id, request=ChatRequest(messages=[Message(role="user", content=f"question {trace_id}")]),
                         plan=plan, attempts=attempts,
                         decision=Decision(action="accept", reason="confident", confidence=0.9,
                                           answer_tier=models.index(answered)))
    return Trace(trace_id=trace_id, created_at="2026-11-30T00:00:00Z", status="succeeded", state=state,
                 feedback=[{"score": s} for s in feedback])


def test_the_returned_answer_takes_the_score_and_the_others_follow_their_answer():
    traces = [
        _trace("t1", {"small": "B", "big": "C"}, answered="big", feedback=[1.0]),   # small differed: wrong
        _trace("t2", {"small": "A", "big": "A"}, answered="big", feedback=[0.0]),   # same answer: same label
        _trace("t3", {"small": "A", "big": "D"}, answered="big", feedback=[0.0]),   # both may be wrong: skip
        _trace("t4", {"small": "A"}, answered="small", feedback=[]),               # no feedback: nothing
        _trace("t5", {"small": None, "big": "A"}, answered="big", feedback=[1.0, 0.0]),  # mean; no key: skip
    ]
    rows = {(r["prompt_id"], r["model"]): r for r in training_rows(traces)}
    assert set(rows) == {("t1", "big"), ("t1", "small"), ("t2", "big"), ("t2", "small"), ("t3", "big"),
                         ("t5", "big")}
    assert rows[("t1", "big")]["correct"] == 1.0 and rows[("t1", "small")]["correct"] == 0.0
    assert rows[("t2", "small")]["correct"] == 0.0 and rows[("t5", "big")]["correct"] == 0.5
    assert rows[("t1", "small")]["prompt"] == "question t1" and rows[("t1", "small")]["category"] == "science"
    assert rows[("t1", "big")]["cost_usd"] == 0.002


def test_rows_are_written_in_the_outcomes_schema_and_items_are_read_from_dynamodb_json(tmp_path):
    trace = _trace("t1", {"small": "B"}, answered="small", feedback=[1.0])
    items = [{"trace_id": {"S": "t1"}, "body": {"S": trace.model_dump_json()}}, {"trace_id": {"S": "bad"}},
             {"trace_id": {"S": "junk"}, "body": {"S": "{not json"}}]
    traces = list(traces_from_items(items))
    assert [t.trace_id for t in traces] == ["t1"]
    path = write_rows(training_rows(traces), tmp_path / "traffic.parquet")
    frame = pd.read_parquet(path)
    assert list(frame.columns) == COLUMNS and len(frame) == 1 and frame["source"].tolist() == ["traffic"]


def test_prompts_labelled_by_feedback_take_the_answer_scored_correct_as_reference():
    from switchboard.offline.export import labelled_prompts

    rows = [
        {"prompt_id": "t1", "prompt": "Q1", "category": "c", "model": "a", "pred": "B", "correct": 1.0},
        {"prompt_id": "t1", "prompt": "Q1", "category": "c", "model": "b", "pred": "C", "correct": 0.0},
        {"prompt_id": "t2", "prompt": "Q2", "category": "c", "model": "a", "pred": "D", "correct": 0.0},  # no reference
        {"prompt_id": "t3", "prompt": "Q3", "category": "c", "model": "a", "pred": "42", "correct": 1.0},
        {"prompt_id": "t4", "prompt": "Q4", "category": "c", "model": "a", "pred": "A", "correct": 1.0},
        {"prompt_id": "t4", "prompt": "Q4", "category": "c", "model": "b", "pred": "C", "correct": 1.0},  # conflict
        {"prompt_id": "t5", "prompt": "Q5", "category": "c", "model": "a", "pred": None, "correct": 1.0},  # no key
    ]
    labelled = {p.prompt_id: p for p in labelled_prompts(rows)}
    assert set(labelled) == {"t1", "t3"}
    assert (labelled["t1"].reference, labelled["t1"].grader) == ("B", "choice")
    assert (labelled["t3"].reference, labelled["t3"].grader) == ("42", "number")


def test_traffic_nobody_scored_is_exported_unlabelled_and_becomes_ungraded_prompts_with_their_answers():
    from switchboard.offline.export import known_answers, summary, traffic_prompts, unlabelled_rows

    traces = [_trace("t1", {"small": "B", "big": "C"}, answered="big", feedback=[]),
              _trace("t2", {"small": "A"}, answered="small", feedback=[1.0])]  # scored: a training row instead
    rows = unlabelled_rows(traces)
    assert {(r["prompt_id"], r["model"]) for r in rows} == {("t1", "small"), ("t1", "big")}
    assert all(r["correct"] is None for r in rows)
    both = training_rows(traces) + rows
    info = summary(traces, both)
    assert info["unlabelled"] == 2 and info["mean_label"] == 1.0  # the unlabelled rows are not averaged in
    prompts = traffic_prompts(both)
    assert [(p.prompt_id, p.grader, p.reference) for p in prompts] == [("t2", "none", ""), ("t1", "none", "")]
    known = known_answers(both)
    assert known[("t1", "big")]["response"] == "answer C" and ("t2", "big") not in known
