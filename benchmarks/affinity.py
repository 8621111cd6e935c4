"""Conversation affinity with a stub: a 10-turn conversation through the local stack (the synthesised
state machine, the handlers, the sessions table on the emulated DynamoDB) over a SCRIPTED FAKE pool of two
OpenAI-compatible models on loopback, ``fast`` (cheap) and ``strong`` (tests/support/scripted_session_model:
the judges reject ``fast``'s answers to turns 3 and 7, so those escalate to ``strong``). No real LLM runs.
The conversation runs twice - without a session, and with a ``prompt_cache_key`` (each request then starts
with the model that answered the session's last request) - and for each run reports which model answered
each turn, the model switches between consecutive turns, the calls each model received (answers and
judges), the stub catalogue's cost, and the estimated prompt-cache hit share - over all calls, and over
the answer calls alone (a judge's prompt repeats the conversation it grades, so judges warm the cache too).

Estimated prompt-cache hit share: over every call the stub received, the share of prompt characters (a
stand-in for tokens: the JSON of each message, in order) that form a prefix already sent to the same
model - for each call, the longest run of leading messages equal to the leading messages of any earlier
call to that model - over all prompt characters sent. It is what a provider's prefix cache could at best
serve; real caches also need a minimum prefix length and evict, so the figure is an upper bound.

Run: .venv/bin/python benchmarks/affinity.py   (writes benchmarks/out/affinity.json; ~40 s)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

OUT = ROOT / "benchmarks" / "out" / "affinity.json"
HARD_TURNS = {3, 7}


def cached_share(calls: list[list[dict]]) -> tuple[int, int]:
    """Over one model's calls in order: (prompt characters that repeat, as leading messages, the start of
    an earlier call; all prompt characters)."""
    total = cached = 0
    seen: list[list[dict]] = []
    for messages in calls:
        sizes = [len(json.dumps(m)) for m in messages]
        total += sum(sizes)
        best = 0
        for earlier in seen:
            shared = 0
            for mine, theirs, size in zip(messages, earlier, sizes, strict=False):
                if mine != theirs:
                    break
                shared += size
            best = max(best, shared)
        cached += best
        seen.append(messages)
    return cached, total


def conversation(url: str, upstream, session: str | None) -> dict:
    upstream.requests.clear()
    messages: list[dict] = []
    answered = []
    for turn in range(1, 11):
        question = f"Turn {turn}: tell me more{' (hard)' if turn in HARD_TURNS else ''}."
        messages.append({"role": "user", "content": question})
        body = {"model": "auto", "messages": messages, "max_tokens": 32}
        if session:
            body["prompt_cache_key"] = session
        response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120).json()
        messages.append({"role": "assistant", "content": response["choices"][0]["message"]["content"]})
        answered.append({"turn": turn, "model": response["switchboard"]["answered_by"]["model"],
                         "tiers": [t["model"] for t in response["switchboard"]["tiers"]],
                         "affinity": response["switchboard"]["affinity"],
                         "cost_usd": response["switchboard"]["cost_usd"]})
    return {"session": session, "turns": answered, **_figures(answered, upstream.requests)}


def _is_judge(messages: list[dict]) -> bool:
    return bool(messages) and "<<<ANSWER" in str(messages[-1].get("content", ""))


def _share(by_model: dict[str, list[list[dict]]]) -> float:
    counted = [cached_share(calls) for calls in by_model.values()]
    return round(sum(c for c, _ in counted) / max(1, sum(t for _, t in counted)), 3)


def _figures(answered: list[dict], requests: list) -> dict:
    by_model: dict[str, list[list[dict]]] = {}
    for request in requests:
        if isinstance(request.body, dict):
            by_model.setdefault(request.body.get("model", "?"), []).append(request.body.get("messages") or [])
    answers = {m: [c for c in calls if not _is_judge(c)] for m, calls in by_model.items()}
    switches = sum(1 for a, b in zip(answered, answered[1:], strict=False) if a["model"] != b["model"])
    return {"model_switches": switches, "calls": {m: len(c) for m, c in by_model.items()},
            "answer_calls": {m: len(c) for m, c in answers.items()},
            "estimated_cache_hit_share": _share(by_model), "estimated_cache_hit_share_answers": _share(answers),
            "cost_usd": round(sum(t["cost_usd"] for t in answered), 8)}


def main() -> None:
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ["SB_FAKE_UPSTREAM_KEY"] = "sk-fake"
    import tempfile

    from switchboard.http.server import LocalServer
    from switchboard.local.emulator import free_port
    from switchboard.local.stack import LocalStack, StackOptions
    from tests.support.fake_openai_server import FakeOpenAIServer
    from tests.support.scripted_session_model import reply

    with FakeOpenAIServer(reply=reply, token_s=0.0) as upstream:
        catalog = Path(tempfile.mkdtemp()) / "catalog.json"
        catalog.write_text(json.dumps(upstream.catalog({"fast": 0.1, "strong": 1.0}, "SB_FAKE_UPSTREAM_KEY", 5.0)))
        stack = LocalStack(StackOptions(catalog_path=catalog, deadline_s=30)).start()
        server = LocalServer(stack, port=free_port()).start_background()
        try:
            runs = [conversation(server.url, upstream, None), conversation(server.url, upstream, "conversation-1")]
        finally:
            server.stop()
            stack.stop()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"hard_turns": sorted(HARD_TURNS), "runs": runs}, indent=1))
    for run in runs:
        print(f"session={run['session']!s:16} answered by {[t['model'] for t in run['turns']]}")
        print(f"{'':25}model switches {run['model_switches']}, estimated cache-hit share "
              f"{run['estimated_cache_hit_share']:.1%} (answer calls only "
              f"{run['estimated_cache_hit_share_answers']:.1%}), calls {run['calls']} "
              f"(answers {run['answer_calls']}), "
              f"stub cost ${run['cost_usd']:.6f}")


if __name__ == "__main__":
    main()
