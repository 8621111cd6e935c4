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

from switchboard.domain.models import CascadeState
from switchboard.ports import ExecutionOutcome


def _outcome(status: str, output: str | None, error: str | None, cause: str | None) -> ExecutionOutcome:
    if status == "SUCCEEDED" and output:
        return ExecutionOutcome(status="SUCCEEDED", state=CascadeState.model_validate(json.loads(output)))
    if status == "SUCCEEDED":
        return ExecutionOutcome(status="FAILED", error="Switchboard.EmptyOutput", cause="execution had no output")
    mapped: Literal["FAILED", "TIMED_OUT", "ABORTED"] = (
        "TIMED_OUT" if status == "TIMED_OUT" else "ABORTED" if status == "ABORTED" else "FAILED")
    return ExecutionOutcome(status=mapped, error=error or status, cause=(cause or "")[:2000])


class SyncExpressOrchestrator:
    def __init__(self, state_machine_arn: str, client: Any = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("stepfunctions")
        return self._client

    def start(self, state: CascadeState) -> None:
        # An Express machine also runs asynchronously (StartExecution): up to its 5-minute limit.
        self.client.start_execution(stateMachineArn=self.state_machine_arn, name=state.request_id,
                                    input=state.model_dump_json())

    def run(self, state: CascadeState) -> ExecutionOutcome:
        response = self.client.start_sync_execution(stateMachineArn=self.state_machine_arn,
                                                    name=state.request_id,
                                                    input=state.model_dump_json())
        return _outcome(response["status"], response.get("output"), response.get("error"),
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
        deadline = time.monotonic() + self.timeout_s
        while True:
            described = self.client.describe_execution(executionArn=started["executionArn"])
            if described["status"] != "RUNNING":
                return _outcome(described["status"], described.get("output"), described.get("error"),
                                described.get("cause"))
            if time.monotonic() > deadline:
                return ExecutionOutcome(status="TIMED_OUT", error="States.Timeout",
                                        cause=f"no result after {self.timeout_s:.0f} s")
            time.sleep(self.poll_s)
