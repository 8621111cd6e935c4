"""Local LLM benchmark: load time and generation speed of each GGUF model of the model store.

For each model: the time ``LocalGGUF.load()`` takes (after unloading everything, so it is a real load,
though the file may be in the OS page cache), then a short fixed prompt generating 64 tokens greedily,
measured two ways over ``--runs`` runs (median):

* end to end through ``LocalGGUF.complete`` (what the gateway sees: output tokens / wall time), and
* llama.cpp's own timings of prompt processing and decoding (tokens/s of each phase).

Writes the figures to benchmarks/out/llm.json. Missing models are fetched unless --no-pull.

Run: .venv/bin/python benchmarks/bench_llm.py [--models NAME ...] [--runs 3] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from switchboard.adapters.providers import local_gguf  # noqa: E402
from switchboard.adapters.providers.gguf_store import KNOWN_MODELS, ensure_model, model_path  # noqa: E402
from switchboard.adapters.providers.local_gguf import LocalGGUF, default_threads  # noqa: E402
from switchboard.domain.requests import Message  # noqa: E402
from switchboard.ports import CompletionRequest  # noqa: E402

PROMPT = "Write a Python function that checks whether a number is prime. Include a docstring."
MAX_TOKENS = 64
N_CTX = 2048


def bench_model(name: str, runs: int, threads: int, pull: bool) -> dict:
    path = ensure_model(name) if pull else model_path(name)
    if not path.is_file():
        return {"model": name, "skipped": f"not in the store ({path}); run without --no-pull"}
    local_gguf.unload_all()
    load_before = os.getloadavg()[0]
    provider = LocalGGUF(path, n_ctx=N_CTX, n_threads=threads)
    load_s = provider.load()
    messages = [Message(role="user", content=PROMPT)]
    provider.complete(CompletionRequest(messages, max_tokens=8, temperature=0.0))  # warm-up: first-call allocations

    e2e, outputs = [], []
    for _ in range(runs):
        started = time.perf_counter()
        completion = provider.complete(CompletionRequest(messages, max_tokens=MAX_TOKENS, temperature=0.0))
        wall = time.perf_counter() - started
        e2e.append(completion.output_tokens / wall)
        outputs.append(completion.output_tokens)

    # llama.cpp's own per-phase timings, from the same engine (non-streamed; prompt cache off).
    server = local_gguf._load(provider.model_path, N_CTX, threads).server
    prompt_tps, decode_tps, prompt_tokens = [], [], 0
    for _ in range(runs):
        result = server.handle_chat_completions({"messages": [{"role": "user", "content": PROMPT}],
                                                 "max_tokens": MAX_TOKENS, "temperature": 0.0,
                                                 "cache_prompt": False})
        timings = result["timings"]
        prompt_tps.append(timings["prompt_per_second"])
        decode_tps.append(timings["predicted_per_second"])
        prompt_tokens = result["usage"]["prompt_tokens"]
    local_gguf.unload_all()
    return {
        "model": name,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "load_s": round(load_s, 3),
        "prompt_tokens": prompt_tokens,
        "output_tokens": outputs,
        "end_to_end_tok_s": round(statistics.median(e2e), 2),
        "prompt_tok_s": round(statistics.median(prompt_tps), 1),
        "decode_tok_s": round(statistics.median(decode_tps), 2),
        "sample": completion.text[:120],
        # Other processes competing for the cores distort the figures badly (llama.cpp's threads spin
        # on barriers), so the 1-minute load average around the run is kept with them.
        "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=sorted(KNOWN_MODELS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--no-pull", action="store_true", help="skip models that are not in the store")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "llm.json")
    args = parser.parse_args()

    results = []
    for name in args.models:
        row = bench_model(name, args.runs, args.threads, pull=not args.no_pull)
        results.append(row)
        if "skipped" in row:
            print(f"{name}: skipped ({row['skipped']})")
        else:
            print(f"{name}: load {row['load_s']:.2f} s | end-to-end {row['end_to_end_tok_s']:.1f} tok/s | "
                  f"prompt {row['prompt_tok_s']:.0f} tok/s | decode {row['decode_tok_s']:.1f} tok/s "
                  f"({row['file_mb']:.0f} MB, {row['prompt_tokens']} prompt tokens, {MAX_TOKENS} max new, "
                  f"load avg {row['loadavg_1m']})")
    report = {"python": platform.python_version(), "machine": platform.machine(), "threads": args.threads,
              "n_ctx": N_CTX, "max_tokens": MAX_TOKENS, "runs": args.runs, "prompt": PROMPT,
              "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(libgomp default)"), "models": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
