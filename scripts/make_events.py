"""Regenerate the sample events under events/ (shared by `sam local invoke -e` and the tests).

Run: python scripts/make_events.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from switchboard.domain.cascade import step  # noqa: E402
from switchboard.domain.state import CascadeState  # noqa: E402
from switchboard.http.server import api_gateway_event  # noqa: E402


def api(method: str, path: str, body) -> dict:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    event = api_gateway_event(method, path, {"content-type": "application/json",
                                             "host": "example.execute-api.us-east-1.amazonaws.com"}, raw)
    event["requestContext"].update({"requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                                    "requestTimeEpoch": 1763800000000, "stage": "prod",
                                    "path": "/prod" + path.split("?")[0]})
    return event


def main() -> None:
    files = {
        "router/chat_completion": api("POST", "/v1/chat/completions", {
            "model": "auto", "max_tokens": 64,
            "messages": [{"role": "user", "content": "Write a Python function that returns the sum of a list."}]}),
        "router/chat_completion_budget": api("POST", "/v1/chat/completions", {
            "messages": [{"role": "user", "content": "What is 17 times 23?"}], "max_tokens": 32,
            "switchboard": {"max_cost_usd": 0.00001}}),
        "router/malformed_json": api("POST", "/v1/chat/completions", '{"messages": [ {"role": "user", '),
        "router/missing_messages": api("POST", "/v1/chat/completions", {"model": "auto"}),
        "router/empty_user_message": api("POST", "/v1/chat/completions",
                                         {"messages": [{"role": "user", "content": "   "}]}),
        "router/unknown_model": api("POST", "/v1/chat/completions",
                                    {"model": "gpt-9-ultra", "messages": [{"role": "user", "content": "hi"}]}),
        "router/route": api("POST", "/v1/route",
                            {"messages": [{"role": "user", "content": "What is 2+2?"}], "max_tokens": 16}),
        "router/get_trace": api("GET", "/v1/traces/0123456789abcdef", ""),
        "router/feedback": api("POST", "/v1/feedback",
                               {"trace_id": "0123456789abcdef", "score": 1.0, "comment": "right answer"}),
    }
    trace_event = files["router/get_trace"]
    trace_event.update({"resource": "/v1/traces/{trace_id}", "pathParameters": {"trace_id": "0123456789abcdef"},
                        "body": None})
    request = {"messages": [{"role": "user", "content": "What is 2+2? Answer with a number."}],
               "max_tokens": 16, "temperature": 0.0}
    small, big = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"
    plan = {"route": "default", "tiers": [
        {"model": small, "threshold": 0.6, "est_cost_usd": 0.00001,
         "judges": [{"kind": "self_verify", "model": small, "samples": 3}, {"kind": "llm_judge", "model": big}]},
        {"model": big, "threshold": 0.6, "est_cost_usd": 0.00003,
         "judges": [{"kind": "self_verify", "model": big, "samples": 3}, {"kind": "llm_judge", "model": small}]}]}
    first = {"request_id": "evt-0001", "request": request, "plan": plan, "tier": 0, "attempts": [], "spent_usd": 0.0}
    candidate = {"model": small, "text": "4", "usage": {"input_tokens": 30, "output_tokens": 2},
                 "cost_usd": 0.0000017, "latency_ms": 210.0, "finish_reason": "stop"}
    files["tier/first_tier"] = first
    files["judge/llm_judge"] = {"judge": {"kind": "llm_judge", "model": big}, "request": request,
                                "candidate": candidate}
    files["judge/self_verify"] = {"judge": {"kind": "self_verify", "model": small, "samples": 3},
                                  "request": request, "candidate": candidate}
    verdicts = [
        {"judge": f"self_verify:{small}", "kind": "self_verify", "score": 1.0, "cost_usd": 0.00002,
         "detail": "3/3 correct"},
        {"judge": f"llm_judge:{big}", "kind": "llm_judge", "score": 1.0, "cost_usd": 0.00002, "detail": "CORRECT"}]
    current = {"tier": 0, "candidate": candidate, "judges": plan["tiers"][0]["judges"], "verdicts": verdicts}
    files["decide/confident"] = {**first, "current": current}
    files["decide/not_confident"] = {**first, "current": {**current, "verdicts": [
        {**v, "score": 0.0} for v in verdicts]}}
    files["decide/tier_failed"] = {**first, "current": {
        "Error": "ProviderTimeout",
        "Cause": "{\"errorMessage\": \"no answer within 60 s\", \"errorType\": \"ProviderTimeout\"}"}}
    files["record/final_state"] = step(CascadeState.model_validate(files["decide/confident"])).model_dump(mode="json")
    for name, body in files.items():
        path = ROOT / "events" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(files)} events under {ROOT / 'events'}")


if __name__ == "__main__":
    main()
