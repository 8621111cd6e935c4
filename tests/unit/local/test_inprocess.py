"""The in-process shortcuts of the local stack keep what the emulator's HTTP path gave: JSON copies that
are real copies, and Lambda's answer shape for a handler's result or its error."""

from __future__ import annotations

import json
from datetime import datetime

from switchboard.local.inprocess import _DirectLambda, json_deepcopy


def test_a_json_document_is_copied_deeply_and_equal():
    doc = {"a": [1, 2.5, {"b": None, "c": True}], "d": "text", "e": {"f": [[]]}}
    copied = json_deepcopy(doc)
    assert copied == doc
    copied["a"][2]["b"] = "changed"
    copied["e"]["f"][0].append(1)
    assert doc["a"][2]["b"] is None and doc["e"]["f"] == [[]]


def test_anything_that_is_not_json_is_left_to_copy_deepcopy():
    when = datetime(2026, 1, 1)
    doc = {"tuple": (1, [2]), "when": when}
    copied = json_deepcopy(doc)
    assert copied == doc and isinstance(copied["tuple"], tuple)
    assert copied["tuple"][1] is not doc["tuple"][1]


def test_shared_parts_stay_shared_and_what_pickle_refuses_is_copied_generically():
    part = {"x": [1]}
    doc = {"a": part, "b": part}
    copied = json_deepcopy(doc)
    assert copied["a"] is copied["b"] and copied["a"] is not part  # as copy.deepcopy does

    class Unpicklable:
        def __reduce__(self):
            raise TypeError("no pickling")

        def __deepcopy__(self, memo):
            return "deep-copied"

    assert json_deepcopy([Unpicklable()]) == ["deep-copied"]
    assert json_deepcopy("text") == "text" and json_deepcopy(None) is None


def test_history_events_carry_no_copy_of_the_state():
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField

    from switchboard.local.inprocess import install_lean_history

    install_lean_history()

    class Tracing:
        resets = 0

        def reset_tracing(self):
            Tracing.resets += 1

    class Env:
        variable_store = Tracing()

    state = type("S", (), {"name": "CallTier"})()
    entered = CommonStateField._get_state_entered_event_details(state, Env())
    exited = CommonStateField._get_state_exited_event_details(state, Env())
    assert (entered["name"], entered["input"], exited["output"]) == ("CallTier", "{}", "{}")
    assert Tracing.resets == 1  # the variable store's tracing still ends with the state


def test_a_handler_s_result_and_its_error_come_back_as_lambda_answers_them():
    seen = []

    def dispatch(name: str, payload: dict):
        seen.append((name, payload))
        if payload.get("fail"):
            return False, {"errorType": "ProviderTimeout", "errorMessage": "slow"}
        return True, {"ok": payload["n"] + 1}

    client = _DirectLambda(dispatch, fallback=lambda: None)
    answer = client.invoke(FunctionName="arn:aws:lambda:us-east-1:0:function:TierFn",
                           Payload=json.dumps({"n": 1}).encode())
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert json.load(answer["Payload"]) == {"ok": 2}
    failed = client.invoke(FunctionName="TierFn", Payload=b'{"fail": true}')
    assert failed["FunctionError"] == "Unhandled"
    assert json.load(failed["Payload"]) == {"errorType": "ProviderTimeout", "errorMessage": "slow"}
    assert seen[0] == ("arn:aws:lambda:us-east-1:0:function:TierFn", {"n": 1})
