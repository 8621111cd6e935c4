"""Regenerate the sample events under events/: the files `sam local invoke -e` takes and the tests run.

    python scripts/make_events.py          # writes them
    python scripts/make_events.py --check  # exits 1 when a file differs from what this script writes

``events/<function>/<scenario>.json`` are for the deployed stack: the router's requests carry the sample
bearer key (replace it with one of yours: docs/deploy.md, "Run a function with SAM"), and the task events
name the models of the default Bedrock catalogue (src/switchboard/data/catalog.bedrock.json).
``events/local/<function>/<scenario>.json`` are the same task events for the local stack, whose catalogue
is the local GGUF pool (catalog.local.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from switchboard.domain.cascade import step  # noqa: E402
from switchboard.domain.state import CascadeState  # noqa: E402
from switchboard.http.routes import ROUTES  # noqa: E402
from switchboard.http.server import api_gateway_event  # noqa: E402

EVENTS = ROOT / "events"
# Not a key of any deployment: the router's sample events carry it so that they reach the service in a
# stack that requires keys; `switchboard keys create` gives a real one to put in its place.
SAMPLE_KEY = "sb-sample-events-key-replace-with-yours"
HOST = "example.execute-api.us-east-1.amazonaws.com"
# (cheap, dearer, dearest) of each catalogue: the default Bedrock one, and the local pool
DEPLOYED_MODELS = ("nova-micro", "claude-3-haiku", "claude-3-5-sonnet")
LOCAL_MODELS = ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b")


def api(method: str, path: str, body: Any = None, *, key: str | None = SAMPLE_KEY) -> dict:
    """The REST API proxy event API Gateway sends the router for this request (stage prod)."""
    raw = b"" if body is None else body.encode() if isinstance(body, str) else json.dumps(body).encode()
    headers = {"content-type": "application/json", "host": HOST}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    event = api_gateway_event(method, path, headers, raw)
    route = next((r for r in ROUTES if r.method == method and r.match(path) is not None), None)
    if route is not None:
        event.update({"resource": route.path, "pathParameters": route.match(path) or None})
        event["requestContext"]["resourcePath"] = route.path
    event["requestContext"].update({"requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "stage": "prod",
                                    "requestTimeEpoch": 1763800000000, "path": "/prod" + path.split("?")[0]})
    return event


def router_events() -> dict[str, dict]:
    ask = [{"role": "user", "content": "Write a Python function that returns the sum of a list."}]
    return {
        "chat_completion": api("POST", "/v1/chat/completions", {"model": "auto", "max_tokens": 64, "messages": ask}),
        "chat_completion_budget": api("POST", "/v1/chat/completions", {
            "messages": [{"role": "user", "content": "What is 17 times 23?"}], "max_tokens": 32,
            "switchboard": {"max_cost_usd": 0.000001}}),  # below the cheapest first tier's bound
        "pinned_model": api("POST", "/v1/chat/completions", {
            "model": DEPLOYED_MODELS[0], "max_tokens": 32,
            "messages": [{"role": "user", "content": "What is the capital of Australia?"}]}),
        "route": api("POST", "/v1/route", {"messages": [{"role": "user", "content": "What is 2+2?"}],
                                           "max_tokens": 16}),
        "list_models": api("GET", "/v1/models"),
        "malformed_json": api("POST", "/v1/chat/completions", '{"messages": [ {"role": "user", '),
        "missing_messages": api("POST", "/v1/chat/completions", {"model": "auto"}),
        "empty_user_message": api("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "   "}]}),
        "unknown_model": api("POST", "/v1/chat/completions",
                             {"model": "gpt-9-ultra", "messages": [{"role": "user", "content": "hi"}]}),
        "no_key": api("POST", "/v1/chat/completions", {"messages": ask}, key=None),
        "get_trace": api("GET", "/v1/traces/0123456789abcdef"),
        "feedback": api("POST", "/v1/feedback", {"trace_id": "0123456789abcdef", "score": 1.0,
                                                 "comment": "right answer"}),
        "health": api("GET", "/health", key=None),
    }


def task_events(models: tuple[str, str, str]) -> dict[str, dict]:
    """The state the cascade's task functions receive, on a catalogue's models: the default plan's shape
    (cheapest first, each tier judged by self-verification and a rubric judge from the next model)."""
    small, big, biggest = models
    request = {"messages": [{"role": "user", "content": "What is 2+2? Answer with a number."}],
               "max_tokens": 16, "temperature": 0.0}
    plan = {"route": "default", "tiers": [
        {"model": small, "threshold": 0.6, "est_cost_usd": 0.00001,
         "judges": [{"kind": "self_verify", "model": small, "samples": 3}, {"kind": "llm_judge", "model": big}]},
        {"model": big, "threshold": 0.6, "est_cost_usd": 0.00003,
         "judges": [{"kind": "self_verify", "model": big, "samples": 3}, {"kind": "llm_judge", "model": biggest}]}]}
    first = {"request_id": "evt-0001", "request": request, "plan": plan, "tier": 0, "attempts": [], "spent_usd": 0.0}
    candidate = {"model": small, "text": "4", "usage": {"input_tokens": 30, "output_tokens": 2},
                 "cost_usd": 0.0000017, "latency_ms": 210.0, "finish_reason": "stop"}
    verdicts = [
        {"judge": f"self_verify:{small}", "kind": "self_verify", "score": 1.0, "cost_usd": 0.00002,
         "detail": "3/3 correct"},
        {"judge": f"llm_judge:{big}", "kind": "llm_judge", "score": 1.0, "cost_usd": 0.00002, "detail": "CORRECT"}]
    current = {"tier": 0, "candidate": candidate, "judges": plan["tiers"][0]["judges"], "verdicts": verdicts}
    events: dict[str, dict] = {
        "tier/first_tier": first,
        "judge/llm_judge": {"judge": {"kind": "llm_judge", "model": big}, "request": request, "candidate": candidate},
        "judge/self_verify": {"judge": {"kind": "self_verify", "model": small, "samples": 3}, "request": request,
                              "candidate": candidate},
        "decide/confident": {**first, "current": current},
        "decide/not_confident": {**first, "current": {**current, "verdicts": [{**v, "score": 0.0} for v in verdicts]}},
        "decide/tier_failed": {**first, "current": {
            "Error": "ProviderTimeout",
            "Cause": "{\"errorMessage\": \"no answer within 60 s\", \"errorType\": \"ProviderTimeout\"}"}},
    }
    events["record/final_state"] = step(CascadeState.model_validate(events["decide/confident"])).model_dump(mode="json")
    events["compose/two_parts"] = compose_event(first, events["decide/confident"], small)
    return events


def compose_event(first: dict, decided: dict, decomposer: str) -> dict:
    """What the compose task receives after the Map over parts: a request split in two, each part's
    cascade finished (the decide event's state, run to its decision, on the part's own question)."""
    questions = ("What is 2+2? Answer with a number.", "What is 3+3? Answer with a number.")
    parts = []
    for k, question in enumerate(questions):
        part = {**decided, "request_id": f"evt-0001-p{k}",
                "request": {**decided["request"], "messages": [{"role": "user", "content": question}]}}
        parts.append(step(CascadeState.model_validate(part)).model_dump(mode="json"))
    request = {**first["request"], "messages": [{"role": "user", "content": "\n".join(questions)}]}
    reply = {"model": decomposer, "text": json.dumps({"parts": list(questions)}), "cost_usd": 0.000001}
    return {**first, "request": request, "mode": "parts", "spent_usd": reply["cost_usd"],
            "decomposition": {"cues": {"questions": 2}, "outcome": "decomposed",
                              "decomposer": {"model": decomposer, "reply": reply}, "parts": parts}}


def sample_events() -> dict[str, dict]:
    """Every sample event by its path under events/ (without .json)."""
    return {**{f"router/{name}": event for name, event in router_events().items()},
            **task_events(DEPLOYED_MODELS),
            **{f"local/{name}": event for name, event in task_events(LOCAL_MODELS).items()}}


def render(event: dict) -> str:
    return json.dumps(event, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare the files with what would be written")
    args = parser.parse_args(argv)
    events = sample_events()
    stale = sorted(p for p in EVENTS.rglob("*.json") if str(p.relative_to(EVENTS).with_suffix("")) not in events)
    if args.check:
        differ = [name for name, body in events.items() if not (EVENTS / f"{name}.json").is_file()
                  or (EVENTS / f"{name}.json").read_text(encoding="utf-8") != render(body)]
        for name in [*differ, *map(str, stale)]:
            print(f"out of date: {name}", file=sys.stderr)
        return 1 if differ or stale else 0
    for path in stale:
        path.unlink()
    for name, body in events.items():
        path = EVENTS / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(body), encoding="utf-8")
    print(f"wrote {len(events)} events under {EVENTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
