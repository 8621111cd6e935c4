"""The lean ASL executor's semantics, state by state, on small definitions with FAKE tasks (plain callables)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from switchboard.local.asl_data import Path, StatesError, Template, Unsupported, error_matches
from switchboard.local.asl_executor import Execution, Machine

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"


def _spawn(work: Any) -> None:
    threading.Thread(target=work, daemon=True).start()


def run(definition: dict, data: Any, **tasks: Any) -> Execution:
    def invoke(function: str, payload: dict) -> tuple[bool, Any]:
        name = function.split(":function:")[-1]
        try:
            return True, tasks[name](payload)
        except Exception as exc:  # noqa: BLE001 - as the dispatcher reports a handler's error
            return False, {"errorType": type(exc).__name__, "errorMessage": str(exc)}

    return Execution(Machine(definition), data, invoke=invoke, spawn=_spawn, name="run-1").run()


def task(name: str, **fields: Any) -> dict:
    return {"Type": "Task", "Resource": ARN + name, **fields}


def test_reference_paths_read_and_write_without_changing_the_input() -> None:
    document = {"a": {"b": [1, {"c": 2}]}, "x": 1}
    assert Path.parse("$.a.b[1].c").get(document) == 2
    assert Path.parse("$['a']['b'][0]").get(document) == 1
    written = Path.parse("$.a.d.e").put(document, 5)
    assert written["a"]["d"] == {"e": 5} and written["a"]["b"] is document["a"]["b"]
    assert "d" not in document["a"]  # a new document along the path; the input is unchanged
    with pytest.raises(StatesError) as missing:
        Path.parse("$.nope").get(document)
    assert missing.value.error == "States.Runtime"


@pytest.mark.parametrize("text", ["$..a", "$.a[*]", "$.a[?(@.b)]", "a.b", "$.a[-1]"])
def test_a_path_beyond_a_reference_path_is_unsupported(text: str) -> None:
    with pytest.raises(Unsupported):
        Path.parse(text)


def test_templates_take_paths_of_the_input_and_of_the_context_object() -> None:
    template = Template({"v.$": "$.a", "item.$": "$$.Map.Item.Value", "fixed": [1, {"k": "x"}]}, "T")
    assert template.uses_context
    assert template.render({"a": 3}, {"Map": {"Item": {"Value": "j"}}}) == {"v": 3, "item": "j",
                                                                           "fixed": [1, {"k": "x"}]}
    with pytest.raises(Unsupported):
        Template({"v.$": "States.Format('{}', $.a)"}, "T")


@pytest.mark.parametrize("definition, why", [
    ({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}}, "Wait"),
    ({"StartAt": "T", "States": {"T": task("f", End=True, HeartbeatSeconds=5)}}, "HeartbeatSeconds"),
    ({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                                       "End": True}}}, "Lambda function"),
    ({"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Nowhere"}}}, "Nowhere"),
    ({"StartAt": "P", "QueryLanguage": "JSONata", "States": {"P": {"Type": "Pass", "End": True}}}, "QueryLanguage"),
])
def test_what_the_executor_does_not_implement_is_named_when_the_definition_is_parsed(definition: dict,
                                                                                      why: str) -> None:
    with pytest.raises(Unsupported, match=why):
        Machine(definition)


def test_choice_pass_and_result_paths() -> None:
    definition = {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Default": "Low", "Choices": [
            {"And": [{"Variable": "$.n", "NumericGreaterThan": 5}, {"Not": {"Variable": "$.tag", "IsPresent": True}}],
             "Next": "High"}]},
        "High": {"Type": "Pass", "Result": {"level": "high"}, "ResultPath": "$.out", "End": True},
        "Low": {"Type": "Pass", "Parameters": {"was.$": "$.n"}, "ResultPath": "$.out", "OutputPath": "$.out",
                "End": True}}}
    assert run(definition, {"n": 9}).output == {"n": 9, "out": {"level": "high"}}
    assert run(definition, {"n": 9, "tag": 1}).output == {"was": 9}
    assert run(definition, {"n": 1}).output == {"was": 1}
    no_default = {"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
        {"Variable": "$.s", "StringEquals": "x", "Next": "E"}]}, "E": {"Type": "Succeed"}}}
    failed = run(no_default, {"s": "y"})
    assert (failed.status, failed.error) == ("FAILED", "States.NoChoiceMatched")
    assert run(no_default, {"s": 5}).error == "States.NoChoiceMatched"  # a type mismatch is no match
    assert run(no_default, {}).error == "States.Runtime"  # a variable that is not there
    unreadable = {"StartAt": "T", "States": {"T": task("f", InputPath="$.missing", End=True, Catch=[
        {"ErrorEquals": ["States.Runtime"], "Next": "Caught"}]), "Caught": {"Type": "Succeed"}}}
    assert run(unreadable, {}, f=lambda p: p).error == "States.Runtime"  # no catcher takes it, as in AWS


def test_a_task_gets_its_payload_and_its_error_is_named_by_its_error_type() -> None:
    definition = {"StartAt": "T", "States": {"T": task("f", ResultPath="$.r", End=True)}}
    assert run(definition, {"x": 1}, f=lambda p: {"got": p}).output == {"x": 1, "r": {"got": {"x": 1}}}

    def broken(_: dict) -> dict:
        raise KeyError("k")

    failed = run(definition, {}, f=broken)
    assert (failed.status, failed.error) == ("FAILED", "KeyError")
    assert failed.cause == '{"errorType":"KeyError","errorMessage":"\'k\'"}'


def test_retry_backs_off_then_catch_places_the_error_on_the_raw_input() -> None:
    calls: list[float] = []

    def flaky(_: dict) -> dict:
        calls.append(time.monotonic())
        raise TimeoutError("slow")

    definition = {"StartAt": "T", "States": {
        "T": task("f", InputPath="$.in", Next="Done",
                  Retry=[{"ErrorEquals": ["Other"], "MaxAttempts": 5},
                         {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 0.02, "MaxAttempts": 2,
                          "BackoffRate": 3}],
                  Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Done"}]),
        "Done": {"Type": "Succeed"}}}
    result = run(definition, {"in": {"a": 1}, "keep": True}, f=flaky)
    assert result.status == "SUCCEEDED"
    assert result.output["keep"] is True and result.output["error"]["Error"] == "TimeoutError"
    assert len(calls) == 3  # the first call and two retries
    assert calls[1] - calls[0] >= 0.02 and calls[2] - calls[1] >= 0.06  # 0.02 s, then 0.02 s x 3


def test_a_task_past_its_timeout_is_a_states_timeout_that_task_failed_does_not_cover() -> None:
    definition = {"StartAt": "T", "States": {"T": task("f", TimeoutSeconds=0.05, End=True, Catch=[
        {"ErrorEquals": ["States.TaskFailed"], "Next": "Caught"}]), "Caught": {"Type": "Succeed"}}}
    slow = run(definition, {}, f=lambda p: time.sleep(0.5) or {})
    assert (slow.status, slow.error) == ("FAILED", "States.Timeout")
    assert error_matches(["States.ALL"], "States.Timeout") and not error_matches(["States.ALL"], "States.Runtime")


def test_map_runs_items_side_by_side_in_order_and_a_failed_item_fails_the_map() -> None:
    together = threading.Barrier(4, timeout=10)  # broken unless all four items run at once

    def slow_echo(payload: dict) -> dict:
        if payload["item"] in {"a", "b", "c", "d"}:
            together.wait()
        if payload["item"] == "bad":
            raise ValueError("bad item")
        return {"seen": payload["item"], "i": payload["i"]}

    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.results", "End": True,
        "ItemSelector": {"item.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
        "Catch": [{"ErrorEquals": ["ValueError"], "ResultPath": "$.failed", "Next": "Failed"}],
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "F",
                          "States": {"F": task("f", End=True)}}},
        "Failed": {"Type": "Succeed"}}}
    done = run(definition, {"items": ["a", "b", "c", "d"]}, f=slow_echo)
    assert done.status == "SUCCEEDED", done.cause
    assert done.output["results"] == [{"seen": x, "i": i} for i, x in enumerate("abcd")]
    failed = run(definition, {"items": ["x", "bad"]}, f=slow_echo)
    assert failed.status == "SUCCEEDED" and failed.output["failed"]["Error"] == "ValueError"
    assert run(definition, {"items": "not a list"}, f=slow_echo).error == "States.Runtime"


def test_max_concurrency_bounds_the_items_running_at_once() -> None:
    running, peak, lock = [0], [0], threading.Lock()

    def counted(_: dict) -> dict:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.03)
        with lock:
            running[0] -= 1
        return {}

    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "MaxConcurrency": 2, "End": True,
        "Iterator": {"StartAt": "F", "States": {"F": task("f", End=True)}}}}}
    assert run(definition, list(range(6)), f=counted).status == "SUCCEEDED"
    assert peak[0] == 2


def test_a_runaway_loop_and_an_execution_past_its_timeout_end() -> None:
    loop = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}
    assert run(loop, {}).error == "States.Runtime"
    slow = {"StartAt": "T", "TimeoutSeconds": 0.05, "States": {"T": task("f", End=True)}}
    assert run(slow, {}, f=lambda p: time.sleep(0.5) or {}).error == "States.Timeout"
