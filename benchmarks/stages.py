"""Where one request's time goes, stage by stage, on each executor of the local stack's state machine.

Starts ``switchboard local`` as ``benchmarks/overhead.py`` does (the FAKE instant upstream, three models, two
judges on every tier but the last) once per executor, sends ``--warmup`` requests, then ``--requests`` more of
each setting, and prints the median of each stage's figures from ``switchboard.timing`` (time in the stage,
its wait before it started, and its parts: the embedding, the plan, the model call). Writes
benchmarks/out/stages.json.

Run: .venv/bin/python benchmarks/stages.py [--executors lean moto] [--requests 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

sys.path[:0] = [str(Path(__file__).resolve().parent)]
import overhead  # noqa: E402 - the benchmark's own helpers: upstream, server, ports

FIELDS = ("ms", "queue_ms", "embed_ms", "plan_ms", "model_ms")


def stage_medians(timings: list[dict]) -> list[dict]:
    """The median of each figure per stage position (stages in the order they started)."""
    rows: list[dict] = []
    shapes = {tuple(s["stage"] for s in t["stages"]) for t in timings}
    if len(shapes) != 1:
        raise SystemExit(f"the requests ran different stages: {sorted(shapes)}")
    for index, name in enumerate(next(iter(shapes))):
        row: dict = {"stage": name}
        for field in FIELDS:
            values = [t["stages"][index][field] for t in timings if t["stages"][index].get(field) is not None]
            if values:
                row[field] = round(statistics.median(values), 1)
        rows.append(row)
    return rows


def measure(executor: str, upstream: str, tmp: Path, settings: list[str], warmup: int, requests: int) -> dict:
    port = overhead.free_port()
    server = overhead.start_switchboard(tmp, upstream, port, executor)
    out: dict = {}
    try:
        with httpx.Client(timeout=60, trust_env=False) as client:
            for model in settings:
                body = {"messages": [{"role": "user", "content": overhead.PROMPT}], "max_tokens": 16, "model": model}
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                for _ in range(warmup):
                    client.post(url, json=body).raise_for_status()
                timings = []
                for _ in range(requests):
                    response = client.post(url, json=body)
                    response.raise_for_status()
                    timings.append(response.json()["switchboard"]["timing"])
                total = round(statistics.median(t["total_ms"] for t in timings), 1)
                out[model] = {"total_ms": total, "stages": stage_medians(timings)}
                print(f"{executor:5s} {model:6s} total {total:6.1f} ms", flush=True)
                for row in out[model]["stages"]:
                    print("      " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=15)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executors", nargs="+", choices=("lean", "moto"), default=["lean", "moto"])
    parser.add_argument("--settings", nargs="+", default=["auto", "small"], help="models asked (small: pinned)")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--out", type=Path, default=overhead.ROOT / "benchmarks" / "out" / "stages.json")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="switchboard-stages-"))
    upstream_process, upstream = overhead.start_upstream()
    try:
        report = {"requests": args.requests, "warmup": args.warmup,
                  "executors": {e: measure(e, upstream, tmp, args.settings, args.warmup, args.requests)
                                for e in args.executors}}
    finally:
        if upstream_process.stdin is not None:
            upstream_process.stdin.close()
        upstream_process.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
    overhead.write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
