"""Answering a request: admit it, plan it (decomposed where it holds several tasks), run its cascade,
settle what it spent."""

from __future__ import annotations

from switchboard.domain.state import CascadeState
from switchboard.service.admission import Admission
from switchboard.service.commands import ChatCommand
from switchboard.service.decomposing import Splitter
from switchboard.service.errors import ApiError
from switchboard.service.execution import CascadeRunner
from switchboard.service.routing import RoutePlanner


class ChatService:
    """``POST /v1/chat/completions`` (and ``/v1/messages``, ``/v1/route``) answered at once."""

    def __init__(self, admission: Admission, planner: RoutePlanner, runner: CascadeRunner,
                 splitter: Splitter) -> None:
        self.admission = admission
        self.planner = planner
        self.runner = runner
        self.splitter = splitter

    def complete(self, command: ChatCommand) -> CascadeState:
        """The request run to its final state - on the caller's API key's budget when it has one: what it
        did not spend is returned to the key after, whatever happens."""
        admitted = self.admission.admit(command)
        spent = admitted.held  # what is not known to be unspent stays spent: the cap errs on holding
        try:
            plan = admitted.plan or self.planner.plan(admitted.request, admitted.pinned)
            plan = self.planner.refine(admitted.request, plan)  # the slow classifier, within the reservation
            state = self.splitter.split(self.runner.new_state(admitted.request, plan))
            state = self.runner.run(state)
            spent = state.spent_usd
            return state
        except ApiError as exc:
            if admitted.reservation is not None:
                spent = self.admission.spent_when_failed(exc, spent)
            raise
        finally:
            self.admission.settle(admitted, spent)
