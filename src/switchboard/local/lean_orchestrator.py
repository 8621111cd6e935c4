"""The router's orchestrator on the local stack's lean executor (``local.asl_executor``): an execution of the
synthesised definition, started on a pooled thread and awaited until it ends or the request's deadline
(plus the grace every orchestrator gives) has passed - then the caller gets its 504 and the execution goes
on to record its trace, as in AWS. Its Lambda tasks are the ``LambdaDispatcher``'s handlers in this process.
"""

from __future__ import annotations

import json
import time
from typing import Any

from switchboard.adapters.orchestration import DEADLINE_GRACE_S, execution_outcome, unfinished
from switchboard.domain.state import CascadeState
from switchboard.local.asl_executor import Execution, Invoke, Machine, Spawn
from switchboard.local.task_threads import spawn as pooled
from switchboard.ports import ExecutionOutcome


class LeanOrchestrator:
    """``Machine(definition)`` raises ``asl_data.Unsupported`` for a definition this executor cannot run."""

    def __init__(self, definition: dict, state_machine_arn: str, invoke: Invoke, *, spawn: Spawn = pooled,
                 timeout_s: float = 300.0) -> None:
        self.machine = Machine(definition)
        self.state_machine_arn = state_machine_arn
        self._invoke, self._spawn = invoke, spawn
        self.timeout_s = timeout_s

    def _start(self, state: CascadeState) -> Execution:
        name = state.request_id
        arn = f"{self.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
        execution = Execution(self.machine, json.loads(state.model_dump_json()), invoke=self._invoke,
                              spawn=self._spawn, name=name, arn=arn)
        self._spawn(execution.run)
        return execution

    def start(self, state: CascadeState) -> None:
        self._start(state)

    def run(self, state: CascadeState) -> ExecutionOutcome:
        execution = self._start(state)
        wait_s = self.timeout_s
        if state.deadline is not None:
            wait_s = min(wait_s, state.deadline + DEADLINE_GRACE_S - time.time())
        if not execution.done.wait(max(wait_s, 0.0)):
            return unfinished(state, self.timeout_s)
        output: Any = execution.output
        text = json.dumps(output, separators=(",", ":")) if output is not None else None
        return execution_outcome(execution.status, text, execution.error, execution.cause)
