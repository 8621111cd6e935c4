"""Latency of the embedded default (the local model pool) on one-line factual questions, per stage.

Three measurements on the same questions, in one run:

1. ``switchboard ask`` as a user runs it (a subprocess: the stack starts, models load, one request, the
   stack stops): wall time per question; and ``switchboard ask`` while a local server runs (what it uses
   by default when one answers on 127.0.0.1:8080): a subprocess and one HTTP request;
2. a warm local stack (started once, in process): per request, the end-to-end time and each stage the
   trace records - each tier's model call, each judge - with "route + orchestration" the rest;
3. one call of the strongest local model alone (warm, same ``max_tokens``, seeded so that llama.cpp's
   prompt cache does not serve the questions the stack was just asked): the baseline a cascade must beat.

Prints p50/p95 per stage and writes everything (answers included) to benchmarks/out/latency.json.

Run: .venv/bin/python benchmarks/latency.py [--asks 8] [--max-tokens 256]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from switchboard.ports import CompletionRequest

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

# One-line factual questions written for this benchmark (not from any evaluation set).
QUESTIONS = [
    "What is the capital of Australia?",
    "How many legs does a spider have?",
    "What is the chemical symbol for gold?",
    "Who wrote Pride and Prejudice?",
    "What planet is known as the Red Planet?",
    "At what temperature in Celsius does water boil at sea level?",
    "How many continents are there?",
    "What is the largest ocean on Earth?",
    "In which year did the Second World War end?",
    "What gas do plants take in from the air for photosynthesis?",
    "What is the square root of 144?",
    "Which language is mainly spoken in Brazil?",
]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 3)


def stats(values: list[float]) -> dict:
    return {"n": len(values), "p50_s": pct(values, 0.5), "p95_s": pct(values, 0.95),
            "mean_s": round(statistics.fmean(values), 3) if values else None}


def run_asks(questions: list[str], max_tokens: int, url: str | None = None) -> list[dict]:
    """``switchboard ask`` in a subprocess per question: a stack of its own (cold), or ``url``'s server."""
    results = []
    where = ["--url", url] if url else ["--ephemeral"]
    for question in questions:
        started = time.perf_counter()
        done = subprocess.run([str(ROOT / ".venv" / "bin" / "switchboard"), "ask", question, "--json",
                               *where, "--max-tokens", str(max_tokens)],
                              capture_output=True, text=True, timeout=600, check=False)
        seconds = time.perf_counter() - started
        try:
            body = json.loads(done.stdout)
        except ValueError:
            body = {"status": None, "stdout": done.stdout[-500:], "stderr": done.stderr[-500:]}
        sb = body.get("switchboard") or {}
        results.append({"question": question, "seconds": round(seconds, 3), "status": body.get("status"),
                        "verified": sb.get("verified"), "answered_by": sb.get("answered_by"),
                        "answer": ((body.get("choices") or [{}])[0].get("message") or {}).get("content"),
                        "finish_reason": (body.get("choices") or [{}])[0].get("finish_reason")})
        print(f"  ask{' via ' + url if url else ''} {seconds:6.2f}s  verified={sb.get('verified')}  {question}",
              flush=True)
    return results


def run_streaming(server_url: str, questions: list[str], max_tokens: int, model: str = "auto") -> list[dict]:
    """Over HTTP (the local server): time to the first byte, to the first token of the answer and in total
    of ``stream=true``, beside the same request without streaming. ``model``: ``auto`` (the cascade
    decides first), or a pinned model (its tokens stream as they are produced)."""
    import httpx

    runs = []
    for question in questions:
        body = {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": question}]}
        started = time.perf_counter()
        first = first_token = None
        with httpx.stream("POST", f"{server_url}/v1/chat/completions", json={**body, "stream": True},
                          timeout=600) as response:
            for line in response.iter_lines():
                if first is None:
                    first = time.perf_counter() - started
                if first_token is None and line.startswith("data: {") and '"content":"' in line \
                        and '"content":""' not in line:
                    first_token = time.perf_counter() - started
        streamed = time.perf_counter() - started
        started = time.perf_counter()
        httpx.post(f"{server_url}/v1/chat/completions", json=body, timeout=600)
        plain = time.perf_counter() - started
        runs.append({"question": question, "model": model, "stream_first_byte_s": round(first or streamed, 3),
                     "stream_first_token_s": round(first_token or streamed, 3),
                     "stream_total_s": round(streamed, 3), "no_stream_total_s": round(plain, 3)})
        print(f"  [{model}] stream first byte {runs[-1]['stream_first_byte_s']:6.2f}s  first token "
              f"{runs[-1]['stream_first_token_s']:6.2f}s  total {streamed:6.2f}s  without streaming {plain:6.2f}s  "
              f"{question}", flush=True)
    return runs


def run_warm(questions: list[str], max_tokens: int, asks: int) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    from switchboard.cli.stack_cmds import _local_env
    from switchboard.http.server import api_gateway_event
    from switchboard.local.stack import LocalStack

    _local_env(False)
    stack = LocalStack().start()
    requests, singles = [], []
    try:
        stack.invoke_router(api_gateway_event("POST", "/v1/chat/completions", {"content-type": "application/json"},
                                              json.dumps({"model": "auto", "max_tokens": 8, "messages": [
                                                  {"role": "user", "content": "Say hi."}]}).encode()))  # loads models
        for question in questions:
            body = {"model": "auto", "max_tokens": max_tokens, "messages": [{"role": "user", "content": question}]}
            started = time.perf_counter()
            result = stack.invoke_router(api_gateway_event("POST", "/v1/chat/completions",
                                                           {"content-type": "application/json"},
                                                           json.dumps(body).encode()))
            seconds = time.perf_counter() - started
            payload = json.loads(result.get("body") or "{}")
            sb = payload.get("switchboard") or {}
            stages: dict[str, float] = {}
            for tier in sb.get("tiers", []):
                stages[f"tier{tier['tier']} answer ({tier['model']})"] = (tier.get("latency_ms") or 0) / 1000
                for verdict in tier.get("verdicts", []):
                    stages[f"tier{tier['tier']} judge {verdict['judge']}"] = (verdict.get("latency_ms") or 0) / 1000
            stages["route + orchestration"] = max(0.0, seconds - sum(stages.values()))
            requests.append({"question": question, "seconds": round(seconds, 3),
                             "status": result.get("statusCode"), "verified": sb.get("verified"),
                             "answered_by": sb.get("answered_by"), "decision": sb.get("decision"),
                             "stages": {k: round(v, 3) for k, v in stages.items()},
                             "answer": (payload.get("choices") or [{}])[0].get("message", {}).get("content")})
            print(f"  warm {seconds:6.2f}s  verified={sb.get('verified')}  tiers={len(sb.get('tiers', []))}  "
                  f"{question}", flush=True)
        # the strongest local model alone, warm, same questions
        from switchboard.composition import container
        from switchboard.domain.requests import Message

        catalog = container().catalog().models()
        strongest = max(catalog.values(), key=lambda e: e.price.cost(1000, 250))
        provider = container().providers().provider_for(strongest)
        for question in questions:
            started = time.perf_counter()
            # seeded: llama.cpp's prompt cache is bypassed, so the question asked above is not served from it
            completion = provider.complete(CompletionRequest([Message(role="user", content=question)], max_tokens=max_tokens,
                                           temperature=0.0, seed=0))
            singles.append({"question": question, "model": strongest.model_id,
                            "seconds": round(time.perf_counter() - started, 3), "answer": completion.text,
                            "finish_reason": completion.finish_reason})
            print(f"  {strongest.model_id} alone {singles[-1]['seconds']:6.2f}s  {question}", flush=True)
        from switchboard.http.server import LocalServer
        from switchboard.local.emulator import free_port

        server = LocalServer(stack, port=free_port()).start_background()
        try:
            streaming = run_streaming(server.url, questions[:4], max_tokens)
            streaming += run_streaming(server.url, questions[:4], max_tokens, model=strongest.model_id)
            print(f"`switchboard ask` on {asks} questions, with a local server running:")
            served = run_asks(questions[:asks], max_tokens, url=server.url)
        finally:
            server.stop()
    finally:
        stack.stop()
    return requests, singles, streaming, served


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--asks", type=int, default=8, help="questions run through `switchboard ask` (cold)")
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    print(f"warm stack on {len(QUESTIONS)} questions:")
    warm, singles, streaming, served = run_warm(QUESTIONS, args.max_tokens, args.asks)
    print(f"`switchboard ask` on {args.asks} questions:")
    asks = run_asks(QUESTIONS[: args.asks], args.max_tokens)
    stage_names = sorted({k for r in warm for k in r["stages"]})
    report = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "max_tokens": args.max_tokens,
        "ask": {**stats([a["seconds"] for a in asks]), "verified": sum(bool(a["verified"]) for a in asks),
                "runs": asks},
        "ask_with_server": {**stats([a["seconds"] for a in served]),
                            "verified": sum(bool(a["verified"]) for a in served), "runs": served},
        "warm": {**stats([r["seconds"] for r in warm]), "verified": sum(bool(r["verified"]) for r in warm),
                 "escalated": sum(len([k for k in r["stages"] if k.startswith("tier1 answer")]) for r in warm),
                 "stages": {s: stats([r["stages"][s] for r in warm if s in r["stages"]]) for s in stage_names},
                 "runs": warm},
        "streaming": {model: {"first_byte": stats([r["stream_first_byte_s"] for r in runs]),
                              "first_token": stats([r["stream_first_token_s"] for r in runs]),
                              "total": stats([r["stream_total_s"] for r in runs]),
                              "without_streaming": stats([r["no_stream_total_s"] for r in runs]), "runs": runs}
                      for model in dict.fromkeys(r["model"] for r in streaming)
                      for runs in [[r for r in streaming if r["model"] == model]]},
        "strongest_alone": {**stats([s["seconds"] for s in singles]), "model": singles[0]["model"] if singles else None,
                            "runs": singles},
    }
    out = ROOT / "benchmarks" / "out" / "latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"\nswitchboard ask (cold, {report['ask']['n']}): p50 {report['ask']['p50_s']}s  p95 {report['ask']['p95_s']}s  "
          f"verified {report['ask']['verified']}/{report['ask']['n']}")
    print(f"switchboard ask with a local server running ({report['ask_with_server']['n']}): p50 "
          f"{report['ask_with_server']['p50_s']}s  p95 {report['ask_with_server']['p95_s']}s")
    print(f"warm request ({report['warm']['n']}): p50 {report['warm']['p50_s']}s  p95 {report['warm']['p95_s']}s  "
          f"verified {report['warm']['verified']}/{report['warm']['n']}  escalated {report['warm']['escalated']}")
    for name, s in report["warm"]["stages"].items():
        print(f"  {name:58s} n={s['n']:3d}  p50 {s['p50_s']}s  p95 {s['p95_s']}s")
    alone = report["strongest_alone"]
    print(f"{alone['model']} alone (warm): p50 {alone['p50_s']}s  p95 {alone['p95_s']}s")
    for model, st in report["streaming"].items():
        print(f"stream=true over HTTP, model {model} ({st['total']['n']}): first byte p50 {st['first_byte']['p50_s']}s, "
              f"first token p50 {st['first_token']['p50_s']}s, total p50 {st['total']['p50_s']}s; without streaming "
              f"p50 {st['without_streaming']['p50_s']}s")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
