"""The orchestrator adapters map every way an execution ends, and never wait much past a request's
deadline: a wait that runs out is TIMED_OUT (the router's 504 with a trace id), not a hang."""

from __future__ import annotations

import json
import time

from botocore.exceptions import ReadTimeoutError

from switchboard.adapters.orchestration import DEADLINE_GRACE_S, PollingOrchestrator, SyncExpressOrchestrator
from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.state import CascadeState, Plan, TierSpec


def _state(deadline: float | None) -> CascadeState:
    return CascadeState(request_id="r1", request=ChatRequest(messages=[Message(role="user", content="q")]),
                        plan=Plan(route="default", tiers=[TierSpec(model="m")]), deadline=deadline)


class ForeverRunning:
    def __init__(self) -> None:
        self.described = 0

    def start_execution(self, **kwargs):  # noqa: ANN003, ANN201
        return {"executionArn": "arn:exec"}

    def describe_execution(self, **kwargs):  # noqa: ANN003, ANN201
        self.described += 1
        return {"status": "RUNNING"}


def test_polling_gives_up_shortly_after_the_request_deadline():
    client = ForeverRunning()
    started = time.monotonic()
    outcome = PollingOrchestrator("arn:sm", client=client, poll_s=0.01).run(_state(time.time() + 0.2))
    waited = time.monotonic() - started
    assert outcome.status == "TIMED_OUT" and outcome.error == "Switchboard.DeadlinePassed"
    assert 0.2 + DEADLINE_GRACE_S - 0.05 <= waited < 0.2 + DEADLINE_GRACE_S + 1.0
    assert client.described > 1


def test_polling_maps_a_finished_execution():
    class Done(ForeverRunning):
        def describe_execution(self, **kwargs):  # noqa: ANN003, ANN201
            return {"status": "SUCCEEDED", "output": _state(None).model_dump_json()}

    outcome = PollingOrchestrator("arn:sm", client=Done()).run(_state(time.time() + 5))
    assert outcome.status == "SUCCEEDED" and outcome.state.request_id == "r1"


def test_a_sync_execution_that_outlives_its_wait_is_timed_out():
    class Slow:
        def start_sync_execution(self, **kwargs):  # noqa: ANN003, ANN201
            raise ReadTimeoutError(endpoint_url="https://states")

    assert SyncExpressOrchestrator("arn:sm", client=Slow()).run(_state(time.time())).status == "TIMED_OUT"


def test_a_sync_execution_that_failed_is_failed_whatever_its_http_status():
    class Failed:
        def start_sync_execution(self, **kwargs):  # noqa: ANN003, ANN201
            return {"status": "FAILED", "error": "States.TaskFailed", "cause": json.dumps({"x": 1})}

    outcome = SyncExpressOrchestrator("arn:sm", client=Failed()).run(_state(None))
    assert outcome.status == "FAILED" and outcome.error == "States.TaskFailed"


def test_an_output_that_is_not_a_cascade_state_is_a_failed_execution_not_a_bad_request():
    from switchboard.adapters.orchestration import execution_outcome

    outcome = execution_outcome("SUCCEEDED", json.dumps({"tier": 0, "judges": []}), None, None)
    assert outcome.status == "FAILED" and outcome.error == "Switchboard.InvalidOutput"
    assert "request_id" in (outcome.cause or "")
    assert execution_outcome("SUCCEEDED", "{not json", None, None).error == "Switchboard.InvalidOutput"
    good = execution_outcome("SUCCEEDED", _state(None).model_dump_json(), None, None)
    assert good.status == "SUCCEEDED" and good.state is not None and good.state.request_id == "r1"
