"""Admission: who is calling, and what a request may spend.

A request on an API key with a budget is admitted with a reservation (``service.api_keys``): its plan's cost
bound is reserved from the key with one conditional write before anything runs, the request is capped at
the reservation, and what it did not spend is returned after (``settle``). Refusals (401, 402, 404, 413,
429) come before anything is spent.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.domain.requests import ChatRequest
from switchboard.domain.state import Plan
from switchboard.ports import ApiKey
from switchboard.service import timing
from switchboard.service.api_keys import KeyService, Reservation
from switchboard.service.commands import ChatCommand
from switchboard.service.errors import ApiError, CascadeFailed
from switchboard.service.routing import RoutePlanner
from switchboard.service.traces import TraceBook


@dataclass
class Admitted:
    """A request let in: its domain request (with the caller's key id, capped at its key's reservation
    when it has one), the plan that reservation was made for, and the reservation."""

    request: ChatRequest
    pinned: str | None
    plan: Plan | None = None
    reservation: Reservation | None = None

    @property
    def held(self) -> float:
        """What the request holds of its key's budget until it settles."""
        return self.reservation.amount if self.reservation is not None else 0.0


class Admission:
    """Authenticates callers and admits their requests on their keys' budgets."""

    def __init__(self, planner: RoutePlanner, traces: TraceBook, keys: KeyService | None = None) -> None:
        self.planner = planner
        self.traces = traces
        self.keys = keys

    def authenticate(self, authorization: str | None) -> ApiKey | None:
        """The caller's API key (``Authorization: Bearer``), or None where keys are off or optional and none
        of ours was sent; raises ``Unauthorized`` for a missing (when required), unknown or revoked key."""
        with timing.authenticating():
            return self.keys.authenticate(authorization) if self.keys is not None else None

    def admit(self, command: ChatCommand) -> Admitted:
        """The command's request on its caller's key: with a key, the plan's cost bound reserved and the
        request capped at it (the same plan - routing is the caller's, not the key's - whose first tier
        fits it and whose policy escalates only within it)."""
        key = command.caller
        request = command.owned_request()
        if key is None or self.keys is None:
            return Admitted(request, command.pinned)
        plan = self.planner.plan(request, command.pinned)  # refusals (402, 404, 413) come before any reservation
        worst = sum(t.est_cost_usd for t in plan.tiers) + (plan.classifier.bound_usd if plan.classifier else 0.0)
        if request.max_cost_usd is not None:
            worst = min(worst, request.max_cost_usd)
        reservation = self.keys.reserve(key, worst, plan.tiers[0].est_cost_usd)
        capped = request.model_copy(update={"max_cost_usd": reservation.amount})
        return Admitted(capped, command.pinned, plan, reservation)

    def settle(self, admitted: Admitted, spent: float) -> None:
        if admitted.reservation is not None and self.keys is not None:
            self.keys.settle(admitted.reservation, spent)

    def spent_when_failed(self, exc: ApiError, held: float) -> float:
        """What a failed request spent: its trace's figure when the cascade ran, nothing for a refusal raised
        before any model was called, else what was held (what is not known to be unspent stays spent)."""
        if isinstance(exc, CascadeFailed):
            trace = self.traces.find(exc.trace_id) if exc.trace_id else None
            if trace is not None and trace.state is not None and trace.state.decision is not None:
                return trace.state.spent_usd
            return held
        return 0.0
