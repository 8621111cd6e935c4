"""A model that stays for the conversation: a continued tool loop or response starts with the model that
made the call, a session with the model of its last answer; escalation stays allowed, and nothing changes
for a request without a conversation."""

from __future__ import annotations

from switchboard.domain.affinity import call_id_for, continues, starting_with, trace_of_call
from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.state import CascadeState, Decision, Fusion, Plan, TierSpec
from switchboard.ports import Trace
from switchboard.service.affinity import Affinity, session_key
from tests.support.fakes import InMemorySessions, InMemoryTraces

TRACE = "0123456789abcdef0123456789abcdef"
PLAN = Plan(tiers=[TierSpec(model="fast"), TierSpec(model="mid"), TierSpec(model="strong")])


def _answered(model: str, trace_id: str = TRACE, session: str | None = None) -> CascadeState:
    request = ChatRequest(messages=[Message(role="user", content="q")], session=session, key_id="key-1")
    return CascadeState(request_id=trace_id, request=request, plan=PLAN,
                        decision=Decision(action="accept", reason="confident", answer_tier=1, answer_model=model))


def _continuation(call_id: str) -> ChatRequest:
    return ChatRequest(key_id="key-1", messages=[Message(role="user", content="weather?"),
                                 Message(role="assistant", content="{}", tool_calls=[{"id": call_id, "name": "w"}]),
                                 Message(role="user", content="Result", tool_call_id=call_id, raw="21")])


def test_call_ids_name_the_request_that_made_them():
    call = call_id_for(TRACE, 2)
    assert trace_of_call(call) == TRACE and trace_of_call(call.replace("call_", "toolu_")) == TRACE
    assert trace_of_call("call_abc") is None and trace_of_call("toolu_01XyZ") is None


def test_a_plan_starts_with_the_conversations_model_and_may_still_escalate():
    assert [t.model for t in starting_with(PLAN, "mid", None, "why").tiers] == ["mid", "strong"]
    own = TierSpec(model="other")
    steered = starting_with(PLAN, "other", own, "why")
    assert [t.model for t in steered.tiers] == ["other", "fast", "mid", "strong"] and steered.affinity == "why"
    unchanged = starting_with(PLAN, "gone", None, "why")
    assert unchanged.tiers == PLAN.tiers and "not applied" in unchanged.affinity
    dial = PLAN.model_copy(update={"fusion": Fusion(models=["fast"], router_p=[0.5])})
    assert starting_with(dial, "mid", None, "why").tiers == PLAN.tiers


def test_a_tool_loop_continues_with_the_model_that_made_the_call():
    traces = InMemoryTraces()
    traces.put(Trace(trace_id=TRACE, created_at="t", status="succeeded", state=_answered("mid")), 1)
    affinity = Affinity(traces)
    request = _continuation(call_id_for(TRACE, 0))
    assert continues(request)
    model, why = affinity.model_for(request)
    assert model == "mid" and "tool loop" in why
    previous = ChatRequest(messages=[Message(role="user", content="go on")], previous_trace=TRACE, key_id="key-1")
    assert affinity.model_for(previous)[0] == "mid"
    assert affinity.model_for(previous.model_copy(update={"key_id": "key-2"})) is None  # another key's request
    assert affinity.model_for(_continuation("call_foreign")) is None  # an id Switchboard did not give
    assert affinity.model_for(ChatRequest(messages=[Message(role="user", content="hi")])) is None


def test_a_session_stays_on_the_model_of_its_last_answer_scoped_to_the_key():
    sessions = InMemorySessions()
    affinity = Affinity(InMemoryTraces(), sessions)
    affinity.remember(_answered("strong", session="user:ada"))
    request = ChatRequest(messages=[Message(role="user", content="next")], session="user:ada", key_id="key-1")
    assert affinity.model_for(request)[0] == "strong"
    other_key = request.model_copy(update={"key_id": "key-2"})
    assert affinity.model_for(other_key) is None and session_key(other_key) != session_key(request)
    affinity.remember(_answered("fast", session="user:ada"))
    assert affinity.model_for(request)[0] == "fast"
