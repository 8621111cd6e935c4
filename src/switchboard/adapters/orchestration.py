"""Run the cascade state machine for one request and map the execution's status explicitly.

``StartSyncExecution`` returns HTTP 200 even when the execution failed, so the status field is what
counts. Two adapters, chosen by the ``SB_ORCHESTRATION`` setting:
- ``SyncExpressOrchestrator`` (AWS): one StartSyncExecution call on the Express state machine.
- ``PollingOrchestrator`` (local stack): StartExecution + DescribeExecution polling, for emulators that do
  not implement StartSyncExecution. Executions are always named (the request id), which also makes a retried
  start idempotent.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import ValidationError

from switchboard.domain.state import CascadeState
from switchboard.ports import ExecutionOutcome

# How long after a request's deadline the router stops waiting for its execution: the tasks stop at the
# deadline, so this only covers the last task's return and the record step. Then the caller gets a 504 with
# the trace id (the execution still records its trace when it ends).
DEADLINE_GRACE_S = 2.0


def past_deadline(state: CascadeState) -> ExecutionOutcome:
    return ExecutionOutcome(status="TIMED_OUT", error="Switchboard.DeadlinePassed",
                            cause=f"no result {DEADLINE_GRACE_S:.0f} s after the request's deadline")


def unfinished(state: CascadeState, timeout_s: float) -> ExecutionOutcome:
    """An execution still running when its waiter stops: ``past_deadline`` once the request's deadline and the
    grace have passed, else a timeout after ``timeout_s`` (the waiter's own bound)."""
    if state.deadline is not None and time.time() > state.deadline + DEADLINE_GRACE_S:
        return past_deadline(state)
    return ExecutionOutcome(status="TIMED_OUT", error="States.Timeout", cause=f"no result after {timeout_s:.0f} s")


def execution_outcome(status: str, output: str | None, error: str | None, cause: str | None) -> ExecutionOutcome:
    if status == "SUCCEEDED" and output:
        try:
            return ExecutionOutcome(status="SUCCEEDED", state=CascadeState.model_validate(json.loads(output)))
        except (ValueError, ValidationError) as exc:  # a definition or handler out of step: the service's fault,
            # never the caller's (a pydantic error reaching the HTTP layer would read as a 400 of the request)
            return ExecutionOutcome(status="FAILED", error="Switchboard.InvalidOutput",
                                    cause=f"the execution's output is not a cascade state: {exc}"[:2000])
    if status == "SUCCEEDED":
        return ExecutionOutcome(status="FAILED", error="Switchboard.EmptyOutput", cause="execution had no output")
    mapped: Literal["FAILED", "TIMED_OUT", "ABORTED"] = (
        "TIMED_OUT" if status == "TIMED_OUT" else "ABORTED" if status == "ABORTED" else "FAILED")
    return ExecutionOutcome(status=mapped, error=error or status, cause=(cause or "")[:2000])


class SyncExpressOrchestrator:
    """``wait_s`` bounds the StartSyncExecution call (the request's deadline plus the grace): a read timeout
    past it is a TIMED_OUT outcome - a 504 with the trace id - not an untraced gateway timeout."""

    def __init__(self, state_machine_arn: str, client: Any = None, wait_s: float = 27.0) -> None:
        self.state_machine_arn = state_machine_arn
        self._client = client
        self.wait_s = wait_s

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # one attempt: a retried start of the same execution name would fail as a duplicate anyway
            self._client = boto3.client("stepfunctions", config=Config(
                read_timeout=self.wait_s, connect_timeout=3, retries={"total_max_attempts": 1}))
        return self._client

    def start(self, state: CascadeState) -> None:
        # An Express machine also runs asynchronously (StartExecution): up to its 5-minute limit.
        self.client.start_execution(stateMachineArn=self.state_machine_arn, name=state.request_id,
                                    input=state.model_dump_json())

    def run(self, state: CascadeState) -> ExecutionOutcome:
        from botocore.exceptions import ReadTimeoutError

        try:
            response = self.client.start_sync_execution(stateMachineArn=self.state_machine_arn,
                                                        name=state.request_id,
                                                        input=state.model_dump_json())
        except ReadTimeoutError:
            return past_deadline(state)
        return execution_outcome(response["status"], response.get("output"), response.get("error"),
                        response.get("cause"))


class PollingOrchestrator:
    def __init__(self, state_machine_arn: str, client: Any = None, poll_s: float = 0.02,
                 timeout_s: float = 300.0) -> None:
        self.state_machine_arn = state_machine_arn
        self._client = client
        self.poll_s = poll_s
        self.timeout_s = timeout_s

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("stepfunctions")
        return self._client

    def start(self, state: CascadeState) -> None:
        self.client.start_execution(stateMachineArn=self.state_machine_arn, name=state.request_id,
                                    input=state.model_dump_json())

    def run(self, state: CascadeState) -> ExecutionOutcome:
        started = self.client.start_execution(stateMachineArn=self.state_machine_arn, name=state.request_id,
                                              input=state.model_dump_json())
        give_up = time.monotonic() + self.timeout_s
        wait_until = state.deadline + DEADLINE_GRACE_S if state.deadline is not None else None
        while True:
            described = self.client.describe_execution(executionArn=started["executionArn"])
            if described["status"] != "RUNNING":
                return execution_outcome(described["status"], described.get("output"), described.get("error"),
                                described.get("cause"))
            if (wait_until is not None and time.time() > wait_until) or time.monotonic() > give_up:
                return unfinished(state, self.timeout_s)
            time.sleep(self.poll_s)
