import pytest

from switchboard.adapters.providers.recorded import RecordedAnswers
from switchboard.domain.requests import Message
from switchboard.offline.outcomes import load_outcomes
from switchboard.ports import CompletionRequest, ProviderRejected
from tests.support.offline_synth import prompt_text, write_parquet


def test_replay_serves_recorded_answer_and_cost(tmp_path):
    data = load_outcomes(write_parquet(tmp_path / "d.parquet", n_per_category=3))
    provider = RecordedAnswers(data, "mid")
    prompt = prompt_text("beta", 1)
    out = provider.complete(CompletionRequest([Message(role="system", content="be brief"), Message(role="user", content=prompt)],
                            max_tokens=64, temperature=0.0))
    i, j = data.prompt_index(prompt), data.model_index("mid")
    assert out.text == data.responses[i, j]
    assert out.cost_usd == pytest.approx(data.cost[i, j]) == pytest.approx(provider.recorded_cost(prompt))
    assert out.input_tokens == len(prompt) // 4 and out.output_tokens == len(out.text) // 4  # estimated
    assert data.prompt_ids[i] == "beta.1"  # the recorded prompt it matched


def test_unknown_prompt_is_rejected(tmp_path):
    data = load_outcomes(write_parquet(tmp_path / "d.parquet", n_per_category=2))
    with pytest.raises(ProviderRejected):
        RecordedAnswers(data, "big").complete(CompletionRequest([Message(role="user", content="never recorded")], max_tokens=8,
                                             temperature=0.0))
    with pytest.raises(KeyError):
        RecordedAnswers(data, "no-such-model")


def test_replay_runs_through_the_service_tier_task_and_policy(tmp_path):
    """The request path's own tier task and cascade step, with recorded models behind the replay provider."""
    from switchboard.domain.cascade import step
    from switchboard.domain.judging import JudgeSpec
    from switchboard.domain.requests import ChatRequest
    from switchboard.domain.state import CascadeState, Plan, TierSpec
    from switchboard.offline.artifacts import catalog_entries
    from switchboard.offline.recorded_cascades import AgreementJudge
    from switchboard.service.tasks import run_tier

    data = load_outcomes(write_parquet(tmp_path / "d.parquet", n_per_category=3))
    catalog = {e.model_id: e for e in catalog_entries(data.models, {})}

    class Replays:
        def provider_for(self, entry):
            return RecordedAnswers(data, entry.provider_model)

    prompt = prompt_text("alpha", 2)
    plan = Plan(tiers=[TierSpec(model="cheap-a", judges=[JudgeSpec(kind="agreement", model="cheap-b")],
                                threshold=0.5),
                       TierSpec(model="big", threshold=0.5)])
    state = CascadeState(request_id="r1", request=ChatRequest(messages=[Message(role="user", content=prompt)]),
                         plan=plan)
    result = run_tier(state, catalog, Replays())
    i = data.prompt_index(prompt)
    assert result.candidate.text == data.responses[i, data.model_index("cheap-a")]
    assert result.candidate.cost_usd == pytest.approx(data.cost[i, data.model_index("cheap-a")])
    a, b = data.answer_ids[i, data.model_index("cheap-a")], data.answer_ids[i, data.model_index("cheap-b")]
    verdict = AgreementJudge("cheap-b").verdict(int(a), int(b), float(data.cost[i, data.model_index("cheap-b")]))
    current = result.model_dump(mode="json") | {"verdicts": [verdict.model_dump(mode="json")]}
    after = step(state.model_copy(update={"current": current}))
    assert after.decision.action == ("accept" if a == b else "escalate")
    assert after.spent_usd == pytest.approx(result.candidate.cost_usd + verdict.cost_usd)
