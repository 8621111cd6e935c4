"""``switchboard collect``: grading, judges recorded, the cost cap, and resuming without paying twice."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from switchboard.domain.judging import JUDGE_ROLES, independent_judge
from switchboard.domain.planner import PlannerConfig, build_plan
from switchboard.domain.requests import ChatRequest, Message
from switchboard.offline.collect import (
    GRADERS,
    SELF_VERIFY_SAMPLES,
    CollectError,
    collect,
    load_prompts,
)
from tests.support.fakes import ScriptedProvider, ScriptedProviders, catalog_entry

QUESTION = "Which is a mammal?\nA) trout\nB) whale\nC) shark\nD) squid\nAnswer:"


def _prompts(tmp_path, n=4):
    path = tmp_path / "prompts.jsonl"
    rows = [{"prompt_id": f"p{i}", "prompt": f"{QUESTION} ({i})", "category": "bio", "reference": "B",
             "grader": "choice"} for i in range(n)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _judge_or_answer(answer: str):
    def reply(messages):
        last = messages[-1].content
        if "VERDICT: CORRECT or VERDICT: INCORRECT" in last:
            return "VERDICT: CORRECT" if "<<<ANSWER\n| B\n" in last else "VERDICT: INCORRECT"
        if "CORRECT or INCORRECT" in last:
            return "CORRECT"
        return answer
    return reply


def _setup():
    catalog = {"small": catalog_entry("small", price=0.1), "big": catalog_entry("big", price=1.0)}
    providers = ScriptedProviders({
        "small": ScriptedProvider(_judge_or_answer("A"), logprobs={"COR": -2.0, "INC": -0.2}, mean_logprob=-1.2),
        "big": ScriptedProvider(_judge_or_answer("B"), logprobs={"COR": -0.1, "INC": -2.5}, mean_logprob=-0.05),
    })
    return catalog, providers


def test_outcomes_are_graded_and_every_judge_kind_is_recorded(tmp_path):
    catalog, providers = _setup()
    report = collect(catalog=catalog, prompts=load_prompts(_prompts(tmp_path)), providers=providers,
                     out_dir=tmp_path / "out", progress=False)
    outcomes = pd.read_parquet(tmp_path / "out" / "outcomes.parquet")
    judges = pd.read_parquet(tmp_path / "out" / "judges.parquet")
    assert report.outcomes == 8 and len(outcomes) == 8
    by_model = outcomes.groupby("model")["correct"].mean().to_dict()
    assert by_model == {"small": 0.0, "big": 1.0}
    assert set(outcomes.columns) >= {"prompt_id", "prompt", "category", "subcategory", "reference", "model",
                                     "response", "pred", "correct", "input_tokens", "output_tokens", "cost_usd"}
    assert set(judges["kind"]) == {"self_verify", "logprob", "confidence", "llm_judge"}
    # each answer: self_verify + logprob + its own token confidence by itself, llm_judge + logprob by the other;
    # self-verification's samples each on a row of their own
    assert judges.groupby(["prompt_id", "model", "judge"]).ngroups == 8 * 5
    samples = judges[judges["kind"] == "self_verify"].groupby(["prompt_id", "model"])["sample"]
    assert (samples.apply(sorted).map(list) == [list(range(SELF_VERIFY_SAMPLES))] * 8).all()
    confidence = judges[judges["kind"] == "confidence"].groupby("model")
    assert confidence["score"].mean().round(4).to_dict() == {"big": round(2.718281828 ** -0.05, 4),
                                                            "small": round(2.718281828 ** -1.2, 4)}
    assert (confidence["cost_usd"].max() == 0.0).all()  # read from the answering call: nothing to pay
    rubric = judges[judges["kind"] == "llm_judge"].set_index("model")["score"].groupby(level=0).mean()
    assert rubric["big"] == 1.0 and rubric["small"] == 0.0
    self_logprob = judges[(judges["kind"] == "logprob") & (judges["role"] == "self")]
    assert (self_logprob[self_logprob["model"] == "small"]["score"] < 0.5).all()
    assert (self_logprob[self_logprob["model"] == "big"]["score"] > 0.5).all()


def test_a_rerun_pays_for_nothing_twice_and_finishes_what_was_interrupted(tmp_path):
    catalog, providers = _setup()
    prompts = load_prompts(_prompts(tmp_path, n=3))
    collect(catalog=catalog, prompts=prompts[:2], providers=providers, out_dir=tmp_path / "out", progress=False)
    calls = {m: p.calls for m, p in providers.providers.items()}
    # an interruption mid-write leaves a cut-off last line: it is ignored, the unit is redone
    with (tmp_path / "out" / "journal.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"type": "outcome", "prompt_id": "p2", "mod')
    report = collect(catalog=catalog, prompts=prompts, providers=providers, out_dir=tmp_path / "out",
                     progress=False)
    assert report.outcomes == 6
    # the third prompt's two answers and its verdicts: four judges and the self-verification's samples, each
    assert report.new_calls == 2 + 2 * (4 + SELF_VERIFY_SAMPLES)
    new = {m: p.calls - calls[m] for m, p in providers.providers.items()}
    # one answer each, plus the self-verify samples + 1 logprob as self, 1 rubric + 1 logprob as other (the
    # confidence verdict is read from the answer: no call)
    assert new == {"small": 1 + SELF_VERIFY_SAMPLES + 1 + 2, "big": 1 + SELF_VERIFY_SAMPLES + 1 + 2}


def test_the_cost_cap_is_never_exceeded_and_a_rerun_continues(tmp_path):
    catalog, providers = _setup()
    prompts = load_prompts(_prompts(tmp_path, n=4))
    full = collect(catalog=catalog, prompts=prompts, providers=providers, out_dir=tmp_path / "full",
                   progress=False)
    cap = full.spent_usd / 2
    capped = collect(catalog=catalog, prompts=prompts, providers=providers, out_dir=tmp_path / "capped",
                     max_cost_usd=cap, progress=False)
    assert capped.stopped_for_budget
    assert 0 < capped.spent_usd <= cap
    rest = collect(catalog=catalog, prompts=prompts, providers=providers, out_dir=tmp_path / "capped",
                   progress=False)
    assert rest.outcomes == full.outcomes and rest.judges == full.judges
    assert rest.spent_usd == pytest.approx(full.spent_usd, rel=1e-6)


def test_a_failed_call_is_recorded_and_retried_next_run(tmp_path):
    catalog, providers = _setup()
    providers.providers["big"].error = RuntimeError("upstream down")
    prompts = load_prompts(_prompts(tmp_path, n=2))
    first = collect(catalog=catalog, prompts=prompts, providers=providers, out_dir=tmp_path / "out",
                    judge_kinds=(), progress=False)
    assert first.failures == 2 and first.outcomes == 2
    providers.providers["big"].error = None
    second = collect(catalog=catalog, prompts=prompts, providers=providers, out_dir=tmp_path / "out",
                     judge_kinds=(), progress=False)
    assert second.outcomes == 4 and second.failures == 0


@pytest.mark.parametrize(("grader", "response", "reference", "correct"), [
    ("choice", "The answer is B.", "B", 1.0),
    ("choice", "A", "B", 0.0),
    ("number", "so the total is 42", "42", 1.0),
    ("number", "41.5", "42", 0.0),
    ("exact", "  Paris. ", "paris", 1.0),
    ("exact", "Lyon", "Paris", 0.0),
])
def test_graders(grader, response, reference, correct):
    prompt = QUESTION if grader == "choice" else "question"
    assert GRADERS[grader](response, prompt, reference)[1] == correct


def test_bad_input_is_refused_with_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt_id": "a", "prompt": "q", "reference": "A"}\n{"prompt": "no id"}\n', encoding="utf-8")
    with pytest.raises(CollectError, match=r"bad.jsonl:2"):
        load_prompts(path)
    catalog, providers = _setup()
    with pytest.raises(CollectError, match="not in the catalogue"):
        collect(catalog=catalog, prompts=load_prompts(_prompts(tmp_path)), providers=providers,
                out_dir=tmp_path / "o", models=["nope"], progress=False)


def test_collect_records_the_judges_the_planner_plans_for_the_same_models(tmp_path):
    """One rule maps judge roles to judges (``judging.judges_for``): the verdicts collect records are
    those of the judges the request path would run on a cascade through the collected models."""
    catalog, providers = _setup()
    collect(catalog=catalog, prompts=load_prompts(_prompts(tmp_path, n=1)), providers=providers,
            out_dir=tmp_path / "out", progress=False)
    recorded = pd.read_parquet(tmp_path / "out" / "judges.parquet").groupby("model")["judge"].apply(set).to_dict()
    config = PlannerConfig(default_tiers=["small", "big"], judges_per_tier=list(JUDGE_ROLES))
    request = ChatRequest(messages=[Message(role="user", content=QUESTION)])
    plan = build_plan(request=request, catalog=catalog, config=config)
    assert recorded == {t.model: {j.name for j in t.judges} for t in plan.tiers}


def test_the_independent_judge_is_the_next_stronger_model():
    catalog = {m: catalog_entry(m, price=p) for m, p in (("a", 0.1), ("b", 1.0), ("c", 5.0))}
    assert independent_judge("a", list(catalog), catalog) == "b"
    assert independent_judge("b", list(catalog), catalog) == "c"
    assert independent_judge("c", list(catalog), catalog) == "b"
    # a model alone in its cascade is graded by the cheapest other model of the catalogue, else by itself
    assert independent_judge("a", ["a"], catalog) == "b"
    assert independent_judge("a", ["a"], {"a": catalog["a"]}) == "a"


def test_each_prompt_is_shown_worked_examples_of_its_category_never_of_itself(tmp_path):
    from switchboard.offline.collect import LabelledPrompt
    from switchboard.offline.worked_examples import example_sources, examples_for

    catalog, providers = _setup()
    collect(catalog=catalog, prompts=load_prompts(_prompts(tmp_path, n=4)), providers=providers,
            out_dir=tmp_path / "out", progress=False)
    written = json.loads((tmp_path / "out" / "examples.json").read_text())
    assert list(written) == ["bio"]
    assert [e["correct"] for e in written["bio"]] == [True, False, True, False]
    assert {e["answer"] for e in written["bio"]} == {"B", "A"}  # the reference, and another option
    prompts = [LabelledPrompt(prompt_id=f"p{i}", prompt=f"{QUESTION} ({i})", category="bio", subcategory="bio",
                              reference="B") for i in range(4)]
    sources = example_sources(prompts)
    for prompt in prompts:
        shown = examples_for(prompt, sources)
        assert len(shown) == 4 and all(f"({prompt.prompt_id[1:]})" not in e.question for e in shown)


def test_an_answer_a_trace_bought_is_recorded_as_it_was_and_not_paid_again(tmp_path):
    from switchboard.offline.collect import LabelledPrompt

    catalog, providers = _setup()
    prompts = [LabelledPrompt(prompt_id="t1", prompt=QUESTION, category="bio", subcategory="bio", reference="",
                              grader="none")]
    known = {("t1", "big"): {"response": "B", "cost_usd": 0.5, "latency_ms": 12.0, "input_tokens": 9,
                             "output_tokens": 1}}
    report = collect(catalog=catalog, prompts=prompts, providers=providers, out_dir=tmp_path / "out",
                     progress=False, known=known)
    outcomes = pd.read_parquet(tmp_path / "out" / "outcomes.parquet").set_index("model")
    assert providers.providers["big"].calls == 1 + SELF_VERIFY_SAMPLES + 1 + 2 - 1  # its answer was not bought again
    assert outcomes.loc["big", "response"] == "B" and outcomes.loc["big", "cost_usd"] == 0.5
    assert outcomes["correct"].isna().all()  # ungraded: a reference labels them at train time
    assert outcomes.loc["small", "pred"] == "A"
    assert report.spent_usd < 0.5  # what the trace paid is not collect's spend
