"""The lean executor (``local.asl_executor``) against moto's ASL interpreter, on the synthesised definition.

Each scenario runs the same execution input through both executors, with the same SCRIPTED task handlers
(registered under the template's function names; their answers and failures are read from the input's
``script``), and compares what each execution returned - status and output, or error and cause - and what
each task was given. The scenarios walk the definition's paths: a tier accepted, escalation over three
tiers, a retried provider timeout, a failed tier caught into ``$.current``, a judge that fails (its
``JudgeAbstains``), a failed Decide (``DecideFailed``), a failed Record, a compound request's parts and its
failed Compose. One scenario is where the two differ, and the lean executor does what AWS documents: an
input the definition cannot read raises ``States.Runtime``, which "a retry or catch on States.ALL won't
catch" (Step Functions developer guide, "Handling errors in Step Functions workflows"), so the execution
fails; moto's interpreter lets the ``States.ALL`` catcher take it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from typing import Any

import pytest

from switchboard.local.asl_executor import Execution, Machine
from switchboard.local.emulator import LambdaDispatcher, LocalAws
from switchboard.local.provisioning import Resources
from switchboard.local.stack import synth_template
from switchboard.local.task_threads import spawn


class ProviderTimeout(Exception):  # noqa: N818 - the error name the definition retries
    pass


class Scripted:
    """Task handlers that do what the execution input's ``script`` says, and record every payload."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.failures: dict[tuple[str, str], int] = defaultdict(int)
        self._lock = threading.Lock()

    def _seen(self, name: str, payload: dict) -> dict:
        with self._lock:
            self.calls.append((name, json.dumps(payload, sort_keys=True)))
        return payload["script"] if "script" in payload else payload["request"]["script"]

    def _fail_once(self, key: tuple[str, str]) -> bool:
        with self._lock:
            self.failures[key] += 1
            return self.failures[key] == 1

    def tier(self, state: dict, _: Any) -> dict:
        script = self._seen("tier", state)
        tier = state.get("tier", 0)
        fault = script.get("tier_fault", {}).get(str(tier))
        if fault == "timeout_once" and self._fail_once((state["run"], f"tier{tier}")):
            raise ProviderTimeout("the provider did not answer in time")
        if fault == "broken":
            raise ValueError("the provider's answer could not be read")
        judges = script.get("judges", []) if tier < script.get("tiers", 1) - 1 else []
        return {"candidate": f"answer of tier {tier}", "judged": bool(judges), "judges": judges, "tier": tier}

    def judge(self, task: dict, _: Any) -> dict:
        script = self._seen("judge", task)
        if task["judge"] in script.get("failing_judges", []):
            raise RuntimeError(f"judge {task['judge']} failed")
        return {"judge": task["judge"], "score": 0.9, "candidate": task["candidate"]}

    def decide(self, state: dict, _: Any) -> dict:
        script = self._seen("decide", state)
        if script.get("decide_fails"):
            raise KeyError("calibration")
        tier = state.get("tier", 0)
        escalate = tier < script.get("escalate_until", 0)
        attempts = [*state.get("attempts", []), state.get("current")]
        return {**state, "attempts": attempts, "tier": tier + 1 if escalate else tier,
                "decision": {"action": "escalate" if escalate else "stop", "verified": not escalate}}

    def record(self, state: dict, _: Any) -> dict:
        script = self._seen("record", state)
        if script.get("record_fails"):
            raise ConnectionError("the table is unavailable")
        return {"written": True}

    def compose(self, state: dict, _: Any) -> dict:
        script = self._seen("compose", state)
        if script.get("compose_fails"):
            raise ValueError("a part has no answer")
        answers = [p.get("current", {}).get("candidate") for p in state["decomposition"]["parts"]]
        return {**state, "answer": " / ".join(str(a) for a in answers)}


def _input(run: str, **script: Any) -> dict:
    return {"run": run, "mode": "whole", "request": {"script": script}, "script": script, "answers": [],
            "deadline": 1e12, "plan": {"answer_bytes_cap": 4096}, "tier": 0, "traceparent": None}


def _parts_input(run: str, **script: Any) -> dict:
    state = _input(run, **script)
    parts = [{"run": run, "script": script, "request": {"script": script, "part": i}, "answers": [],
              "deadline": 1e12, "plan": {"answer_bytes_cap": 4096}, "tier": 0, "traceparent": "00-x"}
             for i in range(2)]
    return {**state, "mode": "parts", "decomposition": {"parts": parts}}


SCENARIOS = {
    "accepted at the first tier": _input("a", tiers=3, judges=["sv1", "sv2", "llm"]),
    "escalated over three tiers": _input("b", tiers=3, judges=["sv1", "llm"], escalate_until=2),
    "a provider timeout retried": _input("c", tiers=2, judges=["llm"], tier_fault={"0": "timeout_once"}),
    "a broken tier caught into current": _input("d", tiers=2, judges=["llm"], tier_fault={"0": "broken"}),
    "a failing judge abstains": _input("e", tiers=2, judges=["sv1", "bad"], failing_judges=["bad"]),
    "a failed decide stops": _input("f", tiers=2, judges=["llm"], decide_fails=True),
    "a failed record is caught": _input("g", tiers=1, record_fails=True),
    "a compound request's parts": _parts_input("h", tiers=2, judges=["sv1", "llm"]),
    "a compound request's failed compose": _parts_input("i", tiers=1, compose_fails=True),
}
UNREADABLE = {**_input("j", tiers=1), "mode": "parts"}  # RunParts' ItemsPath names nothing


@pytest.fixture(scope="module")
def definition_and_moto():  # noqa: ANN201
    template = synth_template()
    dispatcher = LambdaDispatcher()
    aws = LocalAws(dispatcher).start()
    resources = Resources()
    try:
        resources.create_state_machine(aws.client("stepfunctions"), template)
        yield resources.definition, resources.state_machine_arn, dispatcher
    finally:
        aws.stop()


def _register(dispatcher: LambdaDispatcher, scripted: Scripted) -> None:
    for name, handler in {"TierFn": scripted.tier, "JudgeFn": scripted.judge, "DecideFn": scripted.decide,
                          "RecordFn": scripted.record, "ComposeFn": scripted.compose}.items():
        dispatcher.register(name, handler)


def _on_moto(arn: str, execution_input: dict, name: str) -> dict:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    _, _, _, region, account, *_ = arn.split(":")
    execution = stepfunctions_parser_backends[account][region].start_execution(
        arn, name=name, execution_input=json.dumps(execution_input))
    give_up = time.monotonic() + 60
    while execution.exec_status.value == "RUNNING" and time.monotonic() < give_up:
        time.sleep(0.01)
    status = execution.exec_status.value
    return {"status": status, "output": execution.output if status == "SUCCEEDED" else None,
            "error": execution.error, "cause": execution.cause}


def _on_lean(definition: dict, dispatcher: LambdaDispatcher, execution_input: dict, name: str) -> dict:
    run = Execution(Machine(definition), execution_input, invoke=dispatcher.invoke, spawn=spawn, name=name).run()
    return {"status": run.status, "output": run.output if run.status == "SUCCEEDED" else None,
            "error": run.error, "cause": run.cause}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_lean_executor_does_what_moto_s_interpreter_does(scenario: str, definition_and_moto) -> None:  # noqa: ANN001
    definition, arn, dispatcher = definition_and_moto
    results, calls = {}, {}
    for executor in ("moto", "lean"):
        scripted = Scripted()
        _register(dispatcher, scripted)
        name = f"{executor}-{scenario.replace(' ', '-').replace(chr(39), '')}"
        results[executor] = _on_moto(arn, SCENARIOS[scenario], name) if executor == "moto" else \
            _on_lean(definition, dispatcher, SCENARIOS[scenario], name)
        calls[executor] = sorted(scripted.calls)
    moto, lean = results["moto"], results["lean"]
    assert moto["status"] == lean["status"], (moto, lean)
    assert moto["output"] == lean["output"]
    assert calls["moto"] == calls["lean"]
    if moto["status"] != "SUCCEEDED":
        assert moto["error"] == lean["error"], (moto, lean)
    assert calls["lean"], "the scenario ran no task"


def test_an_input_the_definition_cannot_read_fails_the_execution_as_in_aws(definition_and_moto) -> None:  # noqa: ANN001
    definition, arn, dispatcher = definition_and_moto
    _register(dispatcher, Scripted())
    lean = _on_lean(definition, dispatcher, UNREADABLE, "lean-unreadable")
    assert (lean["status"], lean["error"]) == ("FAILED", "States.Runtime")
    assert "$.decomposition.parts" in lean["cause"]
    moto = _on_moto(arn, UNREADABLE, "moto-unreadable")  # where moto's interpreter is more lenient than AWS
    assert moto["status"] == "SUCCEEDED" and moto["output"]["decision"]["reason"] == "parts_failed"
