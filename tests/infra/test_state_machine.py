"""The cascade definition, read from the synthesised template with the helper the local stack uses.

The handlers and the local stack depend on these exact state names and paths, so they are asserted in full.
"""

from __future__ import annotations

import json

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


CASCADE = {"CallTier", "Judged", "RunJudges", "Decide", "DecideFailed", "Route"}


def test_definition_has_exactly_the_cascade_states(loaded: tuple[dict, dict]) -> None:
    definition, _ = loaded
    assert definition["StartAt"] == "Mode"
    assert set(definition["States"]) == CASCADE | {"Mode", "RunParts", "PartsFailed", "Compose", "ComposeFailed",
                                                   "Record", "Done"}
    assert definition["TimeoutSeconds"] == 300  # Express maximum
    assert "QueryLanguage" not in definition  # JSONPath (the local interpreter has no JSONata)


def test_helper_maps_each_placeholder_arn_to_its_function(loaded: tuple[dict, dict]) -> None:
    _, functions = loaded
    assert functions == {arn(f): f for f in ("TierFn", "JudgeFn", "DecideFn", "ComposeFn", "RecordFn")}


def test_mode_runs_a_decomposed_request_as_parts_and_every_other_as_one_cascade(states: dict) -> None:
    assert states["Mode"] == {"Type": "Choice", "Default": "CallTier",
                              "Choices": [{"Variable": "$.mode", "StringEquals": "parts", "Next": "RunParts"}]}


def test_run_parts_maps_each_part_through_the_same_cascade_then_composes(states: dict) -> None:
    run = states["RunParts"]
    assert {k: v for k, v in run.items() if k != "ItemProcessor"} == {
        "Type": "Map", "ItemsPath": "$.decomposition.parts", "ResultPath": "$.decomposition.parts",
        "Next": "Compose",
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.parts_error", "Next": "PartsFailed"}]}
    assert run.get("MaxConcurrency", 0) == 0  # every part at once
    processor = run["ItemProcessor"]
    assert processor["StartAt"] == "PartCallTier"
    part_states = processor["States"]
    assert set(part_states) == {f"Part{name}" for name in CASCADE} | {"PartDone"}
    # each part's cascade is the whole request's, state for state: same functions, paths, retries and
    # catches; only the names differ, and its end is the Map item's end instead of Record
    for name in CASCADE:
        ours = json.loads(json.dumps(states[name]).replace('"Record"', '"Done"'))
        theirs = json.loads(json.dumps(part_states[f"Part{name}"]).replace('"Part', '"'))
        assert theirs == ours, name
    assert part_states["PartDone"] == {"Type": "Succeed"}


def test_compose_replaces_the_state_and_a_failed_map_or_compose_is_recorded(states: dict) -> None:
    assert states["Compose"] == {"Type": "Task", "Resource": arn("ComposeFn"), "ResultPath": "$", "Next": "Record",
                                 "TimeoutSeconds": 10, "Retry": _retry(TRANSIENT),
                                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.compose_error",
                                            "Next": "ComposeFailed"}]}
    for name, reason in (("PartsFailed", "parts_failed"), ("ComposeFailed", "compose_failed")):
        failed = states[name]
        assert (failed["Type"], failed["ResultPath"], failed["Next"]) == ("Pass", "$.decision", "Record")
        assert failed["Result"] == {"action": "stop", "reason": reason, "verified": False}


def test_call_tier_retries_provider_and_lambda_errors_then_falls_through_to_decide(states: dict) -> None:
    assert states["CallTier"] == {
        "Type": "Task", "Resource": arn("TierFn"), "ResultPath": "$.current", "Next": "Judged",
        "TimeoutSeconds": 110, "Retry": _retry(["ProviderTimeout", "ProviderUnavailable", *TRANSIENT]),
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.current", "Next": "Decide"}],
    }  # no Parameters: the Lambda gets the whole state; DeadlineExceeded and ProviderRejected are not retried


def test_a_tier_without_judges_goes_straight_to_decide(states: dict) -> None:
    assert states["Judged"] == {
        "Type": "Choice", "Default": "Decide",
        "Choices": [{"Variable": "$.current.judged", "BooleanEquals": True, "Next": "RunJudges"}],
    }
    # the flag the choice reads is the tier task's own: true exactly when it hands judges to the Map
    from switchboard.domain.state import Candidate, TierResult

    candidate = Candidate(model="m", text="4", cost_usd=0.0)
    assert TierResult(tier=0, candidate=candidate, judges=[]).model_dump(mode="json")["judged"] is False
    judge = {"kind": "llm_judge", "model": "m"}
    assert TierResult.model_validate({"tier": 0, "candidate": candidate.model_dump(), "judges": [judge]}).model_dump(
        mode="json")["judged"] is True


def test_run_judges_maps_every_judge_in_parallel_into_verdicts(states: dict) -> None:
    run = states["RunJudges"]
    assert {k: v for k, v in run.items() if k != "ItemProcessor"} == {
        "Type": "Map", "ItemsPath": "$.current.judges", "ResultPath": "$.current.verdicts", "Next": "Decide",
        "ItemSelector": {"judge.$": "$$.Map.Item.Value", "request.$": "$.request",
                         "candidate.$": "$.current.candidate", "answers.$": "$.answers",
                         "deadline.$": "$.deadline", "answer_bytes_cap.$": "$.plan.answer_bytes_cap",
                         "traceparent.$": "$.traceparent"},
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
