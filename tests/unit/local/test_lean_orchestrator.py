"""The router's orchestrator on the lean executor, and how the local stack chooses its executor (FAKE tasks)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.state import CascadeState, Plan, TierSpec
from switchboard.local.inprocess import InProcessOrchestrator
from switchboard.local.lean_orchestrator import LeanOrchestrator
from switchboard.local.stack import LocalStack, LocalStackError, StackOptions

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:Cascade"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
ECHO = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": ARN + "Fn", "End": True}}}


def _state(**fields: Any) -> CascadeState:
    return CascadeState(request_id="req-1", request=ChatRequest(messages=[Message(role="user", content="hi")]),
                        plan=Plan(tiers=[TierSpec(model="fast")]), **fields)


def test_an_execution_s_output_is_the_cascade_state_and_a_failure_keeps_its_error() -> None:
    echo = LeanOrchestrator(ECHO, MACHINE, lambda name, payload: (True, payload))
    outcome = echo.run(_state())
    assert outcome.status == "SUCCEEDED" and outcome.state is not None and outcome.state.request_id == "req-1"
    failing = LeanOrchestrator(ECHO, MACHINE, lambda name, payload: (False, {"errorType": "Boom"}))
    outcome = failing.run(_state())
    assert (outcome.status, outcome.error) == ("FAILED", "Boom")
    not_a_state = LeanOrchestrator(ECHO, MACHINE, lambda name, payload: (True, {"nope": 1}))
    assert not_a_state.run(_state()).error == "Switchboard.InvalidOutput"


def test_the_router_stops_waiting_past_the_deadline_and_the_execution_runs_on() -> None:
    finished = threading.Event()

    def slow(name: str, payload: dict) -> tuple[bool, Any]:
        time.sleep(2.5)
        finished.set()
        return True, payload

    orchestrator = LeanOrchestrator(ECHO, MACHINE, slow)
    began = time.monotonic()
    outcome = orchestrator.run(_state(deadline=time.time() - 1.5))  # the 2 s grace ends in 0.5 s
    assert (outcome.status, outcome.error) == ("TIMED_OUT", "Switchboard.DeadlinePassed")
    assert time.monotonic() - began < 2.4 and not finished.is_set()
    assert finished.wait(10)  # the execution went on to its end (in AWS it records its trace)


def _stack(executor: str, definition: dict) -> LocalStack:
    stack = LocalStack(StackOptions(executor=executor, port=1))  # never started: no emulator, no socket
    stack.resources.definition = definition
    stack.resources.state_machine_arn = MACHINE
    return stack


def test_the_stack_runs_the_lean_executor_unless_the_definition_needs_moto_s_interpreter() -> None:
    lean = _stack("lean", ECHO)
    assert isinstance(lean._orchestrator(), LeanOrchestrator) and lean.executor == "lean"
    wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}}
    fallback = _stack("lean", wait)
    assert isinstance(fallback._orchestrator(), InProcessOrchestrator) and fallback.executor == "moto"
    assert any("Wait" in w and "moto" in w for w in fallback.warnings)
    chosen = _stack("moto", ECHO)
    assert isinstance(chosen._orchestrator(), InProcessOrchestrator) and not chosen.warnings


def test_an_unknown_executor_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SB_LOCAL_EXECUTOR", "fast")
    with pytest.raises(LocalStackError, match="fast"):
        StackOptions()
