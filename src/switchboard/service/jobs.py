"""Jobs: a cascade longer than the API's integration timeout, run in the background (``POST /v1/route``
with ``"async": true``) and read back by id (``GET /v1/jobs/{id}``)."""

from __future__ import annotations

import time

from switchboard.ports import Trace
from switchboard.service.commands import ChatCommand
from switchboard.service.decomposing import Splitter
from switchboard.service.errors import BadRequest, NotFound
from switchboard.service.execution import CascadeRunner
from switchboard.service.routing import RoutePlanner
from switchboard.service.traces import TraceBook, now_iso

# After its deadline a job's tasks stop and the record task runs; a job still "running" this much later
# ended without a result.
JOB_GRACE_S = 120.0


class JobService:
    def __init__(self, planner: RoutePlanner, runner: CascadeRunner, traces: TraceBook, splitter: Splitter) -> None:
        self.planner = planner
        self.runner = runner
        self.traces = traces
        self.splitter = splitter

    def submit(self, command: ChatCommand) -> Trace:
        """Plan, store a running trace, start the cascade and return at once; the record task stores the
        finished trace, read back by ``job``. The job has its own, longer deadline. A key with a budget is
        refused: a job is settled by no one who could return what it did not spend, so its budget could
        not be held."""
        key = command.caller
        if key is not None and key.budget_usd is not None:
            raise BadRequest("jobs cannot run on an API key with a budget yet (nothing would settle the "
                             "reservation); send the request without async, or with a key without budget",
                             param="async")
        request = command.owned_request()
        plan = self.planner.refine(request, self.planner.plan(request, command.pinned))
        state = self.splitter.split(self.runner.new_state(request, plan, job=True))
        running = Trace(trace_id=state.request_id, created_at=now_iso(), status="running", state=state)
        self.traces.put(running)
        self.runner.start(state)
        return running

    def job(self, job_id: str) -> tuple[Trace, bool]:
        """A job's trace, and whether it is lost: still running well past its deadline (the execution
        ended without the record task storing a result).

        A finished job's session keeps the model that answered it (``service.affinity``) when its result
        is read: the job ran in the background, and its conversation can go on only once the caller has
        the answer. Reading an old job again after later turns moved the session puts it back on that
        job's model; a caller that polls once per job never sees this."""
        trace = self.traces.find(job_id)
        if trace is None:
            raise NotFound(f"no job with id '{job_id}' (jobs expire with their traces)")
        if trace.status == "succeeded" and trace.state is not None and self.runner.on_answer is not None:
            self.runner.on_answer(trace.state)
        deadline = trace.state.deadline if trace.state is not None else None
        lost = trace.status == "running" and deadline is not None and time.time() > deadline + JOB_GRACE_S
        return trace, lost
