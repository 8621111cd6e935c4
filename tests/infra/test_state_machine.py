"""The cascade definition, read from the synthesised template with the helper the local stack uses.

The handlers and the local stack depend on these exact state names and paths, so they are asserted in full.
"""

from __future__ import annotations

import pytest

from switchboard.domain.state import Verdict
from switchboard.local.definition import definition_from_template, placeholder_function_arn
from tests.infra.support import Synth

TRANSIENT = ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
             "Lambda.TooManyRequestsException"]


def _retry(errors: list[str]) -> list[dict]:
    return [{"ErrorEquals": errors, "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2}]


@pytest.fixture(scope="module")
def loaded(synth: Synth) -> tuple[dict, dict]:
    return definition_from_template(synth.template)


@pytest.fixture(scope="module")
def states(loaded: tuple[dict, dict]) -> dict:
    return loaded[0]["States"]


def arn(logical_id: str) -> str:
    return placeholder_function_arn(logical_id)


def test_definition_has_exactly_the_cascade_states(loaded: tuple[dict, dict]) -> None:
    definition, _ = loaded
    assert definition["StartAt"] == "CallTier"
    assert set(definition["States"]) == {"CallTier", "RunJudges", "Decide", "DecideFailed", "Route", "Record",
                                         "Done"}
    assert definition["TimeoutSeconds"] == 300  # Express maximum
    assert "QueryLanguage" not in definition  # JSONPath (the local interpreter has no JSONata)


def test_helper_maps_each_placeholder_arn_to_its_function(loaded: tuple[dict, dict]) -> None:
    _, functions = loaded
    assert functions == {arn(f): f for f in ("TierFn", "JudgeFn", "DecideFn", "RecordFn")}


def test_call_tier_retries_provider_and_lambda_errors_then_falls_through_to_decide(states: dict) -> None:
    assert states["CallTier"] == {
        "Type": "Task", "Resource": arn("TierFn"), "ResultPath": "$.current", "Next": "RunJudges",
        "TimeoutSeconds": 110, "Retry": _retry(["ProviderTimeout", "ProviderUnavailable", *TRANSIENT]),
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.current", "Next": "Decide"}],
    }  # no Parameters: the Lambda gets the whole state; DeadlineExceeded and ProviderRejected are not retried


def test_run_judges_maps_every_judge_in_parallel_into_verdicts(states: dict) -> None:
    run = states["RunJudges"]
    assert {k: v for k, v in run.items() if k != "ItemProcessor"} == {
        "Type": "Map", "ItemsPath": "$.current.judges", "ResultPath": "$.current.verdicts", "Next": "Decide",
        "ItemSelector": {"judge.$": "$$.Map.Item.Value", "request.$": "$.request",
                         "candidate.$": "$.current.candidate", "answers.$": "$.answers",
                         "deadline.$": "$.deadline", "answer_bytes_cap.$": "$.plan.answer_bytes_cap"},
    }  # MaxConcurrency omitted = 0 = no limit (CDK does not render an explicit 0)
    assert run.get("MaxConcurrency", 0) == 0
    processor = run["ItemProcessor"]
    assert processor["StartAt"] == "Judge"
    assert processor["States"]["Judge"] == {
        "Type": "Task", "Resource": arn("JudgeFn"), "End": True, "TimeoutSeconds": 110, "Retry": _retry(TRANSIENT),
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$", "Next": "JudgeAbstains"}],
    }


def test_a_failed_judge_abstains_instead_of_failing_the_map(states: dict) -> None:
    abstains = states["RunJudges"]["ItemProcessor"]["States"]["JudgeAbstains"]
    assert abstains["Type"] == "Pass" and abstains["End"] is True
    # jsii drops None values, so "score" is absent rather than null; the verdict model reads both as None.
    assert {k: v for k, v in abstains["Result"].items() if k != "score"} == {
        "judge": "unavailable", "kind": "llm_judge", "cost_usd": 0, "detail": "judge task failed", "failed": True}
    verdict = Verdict.model_validate(abstains["Result"])
    assert verdict.abstained and verdict.failed and verdict.cost_usd == 0.0  # it counts against the quorum


def test_decide_replaces_the_state_retries_only_transient_errors_and_a_failure_is_recorded(states: dict) -> None:
    assert states["Decide"] == {"Type": "Task", "Resource": arn("DecideFn"), "ResultPath": "$",
                                "Next": "Route", "TimeoutSeconds": 25, "Retry": _retry(TRANSIENT),
                                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.decide_error",
                                           "Next": "DecideFailed"}]}
    failed = states["DecideFailed"]
    assert (failed["Type"], failed["ResultPath"], failed["Next"]) == ("Pass", "$.decision", "Record")
    assert failed["Result"]["action"] == "stop" and "answer_tier" not in failed["Result"]


def test_route_escalates_back_to_call_tier_or_records(states: dict) -> None:
    assert states["Route"] == {
        "Type": "Choice", "Default": "Record",
        "Choices": [{"Variable": "$.decision.action", "StringEquals": "escalate", "Next": "CallTier"}],
    }


def test_record_keeps_the_answer_even_when_the_trace_write_fails(states: dict) -> None:
    assert states["Record"] == {
        "Type": "Task", "Resource": arn("RecordFn"), "ResultPath": "$.record", "Next": "Done", "TimeoutSeconds": 10,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.record_error", "Next": "Done"}],
    }
    assert states["Done"] == {"Type": "Succeed"}
