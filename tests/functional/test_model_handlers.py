"""Tier and judge Lambdas on the sample events, with scripted providers behind the catalogue."""

from __future__ import annotations

import pytest

from functions.judge import handler as judge
from functions.tier import handler as tier
from switchboard import composition
from switchboard.composition import Container, Parts
from switchboard.local.emulator import LocalLambdaContext
from switchboard.ports import ProviderTimeout, ProviderUnavailable
from tests.support.events import load_event
from tests.support.fakes import InMemoryCatalog, ScriptedProvider, ScriptedProviders, catalog_entry

CTX = LocalLambdaContext(function_name="local")
SMALL, BIG = "nova-micro", "claude-3-haiku"  # the default Bedrock catalogue's, as in events/


@pytest.fixture(autouse=True)
def _reset():
    yield
    composition.reset()


def install(monkeypatch, module, small, big=None):
    """Fakes behind the handler's container (``module`` names the handler under test, for the reader)."""
    catalog = InMemoryCatalog([catalog_entry(SMALL, price=0.05), catalog_entry(BIG, price=0.15)])
    composition.use(Container(Parts(catalog=catalog, providers=ScriptedProviders({SMALL: small, BIG: big or small}))))


def test_tier_returns_candidate_priced_from_catalogue_and_the_tiers_judges(monkeypatch):
    install(monkeypatch, tier, ScriptedProvider(lambda m: "4"))
    out = tier.lambda_handler(load_event("tier", "first_tier"), CTX)
    assert out["tier"] == 0 and out["candidate"]["text"] == "4" and out["candidate"]["model"] == SMALL
    usage = out["candidate"]["usage"]
    expected = (usage["input_tokens"] * 0.05 + usage["output_tokens"] * 0.1) / 1e6
    assert abs(out["candidate"]["cost_usd"] - expected) < 1e-15
    # self-verification's three samples fanned out as three judge tasks (the state machine's Map runs them at once)
    assert [(j["kind"], j.get("sample")) for j in out["judges"]] == [
        ("self_verify", 0), ("self_verify", 1), ("self_verify", 2), ("llm_judge", None)]


@pytest.mark.parametrize("error", [ProviderTimeout("slow"), ProviderUnavailable("503")])
def test_tier_provider_errors_propagate_by_class_name_for_retry(monkeypatch, error):
    install(monkeypatch, tier, ScriptedProvider(error=error))
    with pytest.raises(type(error)):
        tier.lambda_handler(load_event("tier", "first_tier"), CTX)


def test_llm_judge_verdict_parsed_and_priced(monkeypatch):
    install(monkeypatch, judge, ScriptedProvider(lambda m: "VERDICT: INCORRECT"))
    out = judge.lambda_handler(load_event("judge", "llm_judge"), CTX)
    assert (out["kind"], out["score"], out["judge"]) == ("llm_judge", 0.0, f"llm_judge:{BIG}")
    assert out["cost_usd"] > 0


def test_self_verify_samples_k_times_and_scores_share_correct(monkeypatch):
    replies = iter(["VERDICT: CORRECT", "VERDICT: INCORRECT", "It checks out.\nVERDICT: CORRECT"])
    small = ScriptedProvider(lambda m: next(replies))
    install(monkeypatch, judge, small)
    out = judge.lambda_handler(load_event("judge", "self_verify"), CTX)
    assert small.calls == 3 and abs(out["score"] - 2 / 3) < 1e-9


def test_a_failed_self_verify_sample_lowers_the_count_not_the_judge(monkeypatch):
    replies = iter(["VERDICT: CORRECT", ProviderUnavailable("503"), "VERDICT: CORRECT"])

    def reply(messages):
        value = next(replies)
        if isinstance(value, Exception):
            raise value
        return value

    install(monkeypatch, judge, ScriptedProvider(reply))
    out = judge.lambda_handler(load_event("judge", "self_verify"), CTX)
    assert out["score"] == 1.0 and not out["failed"] and "ProviderUnavailable" in out["detail"]
    assert "2/2 stated CORRECT of 3 asked" in out["detail"]


def test_unparseable_verdict_is_an_abstention(monkeypatch):
    install(monkeypatch, judge, ScriptedProvider(lambda m: "I think the weather is nice"))
    out = judge.lambda_handler(load_event("judge", "llm_judge"), CTX)
    assert out["score"] is None and not out["failed"] and "no stated verdict" in out["detail"]


def test_judge_model_failure_is_an_abstention_not_an_error(monkeypatch):
    install(monkeypatch, judge, ScriptedProvider(error=ProviderUnavailable("judge endpoint 500")))
    out = judge.lambda_handler(load_event("judge", "llm_judge"), CTX)
    assert out["score"] is None and out["failed"] and "ProviderUnavailable" in out["detail"]
