"""Load: ``switchboard local`` under concurrency 32 for 60 s against an upstream that answers at once.

The upstream is the FAKE OpenAI-compatible server of ``benchmarks/overhead.py`` (loopback, its own process,
judges that accept); Switchboard is started as a user starts it, with the same three-model catalogue and
judge policy. For each setting (``pinned``: one model; ``auto``: the cascade, answered at tier 1) the client
keeps ``--concurrency`` requests in flight for ``--seconds`` and reports latency p50/p95/p99, requests/s,
errors (any status but 200, any transport error: the goal is 0), and the server's resident memory (VmRSS)
after warm-up, every 10 s, and at the end. Memory that keeps growing with requests beyond what is kept on
purpose is a leak: the emulator keeps the last 200-250 executions (with their history), and every trace is
an item of the emulator's in-memory traces table (moto does not expire items by TTL; the journal's
compaction drops expired ones at the next start).

Run: .venv/bin/python benchmarks/load.py [--concurrency 32] [--seconds 60] [--only pinned]
Writes benchmarks/out/load.json.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import ROOT, free_port, pct, start_switchboard, start_upstream, write_report  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "load.json"
QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]
SAMPLE_S = 10.0


def rss_mb(pid: int) -> float:
    """The process's resident memory (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for process {pid}")


def hammer(url: str, body: dict, concurrency: int, seconds: float, pid: int | None = None) -> dict:
    """``concurrency`` clients, each sending its next request as soon as the last one is answered; with
    ``pid``, that process's memory every ``SAMPLE_S`` seconds (and the requests answered by then)."""
    latencies: list[float] = []
    samples: list[dict] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(timeout=60, trust_env=False) as session:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    response = session.post(url, json=body)
                    error = None if response.status_code == 200 else f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    error = type(exc).__name__
                elapsed = time.perf_counter() - started
                with lock:
                    if error is None:
                        latencies.append(elapsed)
                    else:
                        errors[error] = errors.get(error, 0) + 1

    def sample() -> None:
        while time.monotonic() < stop_at:
            time.sleep(min(SAMPLE_S, max(0.0, stop_at - time.monotonic())))
            with lock:
                done = len(latencies)
            samples.append({"s": round(time.perf_counter() - began, 1), "requests": done, "rss_mb": rss_mb(pid)})

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    if pid is not None:
        threads.append(threading.Thread(target=sample))
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    ok = len(latencies)
    return {"requests": ok + sum(errors.values()), "ok": ok, "errors": sum(errors.values()), "error_kinds": errors,
            "requests_per_s": round(ok / wall, 1),
            "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
            "p95_ms": round(1000 * pct(latencies, 0.95), 1) if latencies else None,
            "p99_ms": round(1000 * pct(latencies, 0.99), 1) if latencies else None, "rss_samples": samples}


def run(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="switchboard-load-"))
    upstream_process, upstream = start_upstream()
    port = free_port()
    server = start_switchboard(tmp, upstream, port)
    results: dict[str, dict] = {}
    try:
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        settings = [("pinned", {"model": "small"}), ("auto", {"model": "auto"})]
        for name, extra in settings:
            if args.only and name not in args.only:
                continue
            body = {"messages": QUESTION, "max_tokens": 16, **extra}
            hammer(url, body, args.concurrency, min(5.0, args.seconds))  # warm-up: caches, pools, threads
            before = rss_mb(server.pid)
            figures = hammer(url, body, args.concurrency, args.seconds, pid=server.pid)
            figures.update({"rss_mb_start": before, "rss_mb_end": rss_mb(server.pid)})
            results[name] = figures
            print(f"  {name:7s} {figures['requests_per_s']:6.1f} req/s  p50 {figures['p50_ms']} ms  p95 "
                  f"{figures['p95_ms']} ms  p99 {figures['p99_ms']} ms  errors {figures['errors']}  "
                  f"RSS {before} -> {figures['rss_mb_end']} MB", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=15)
        assert upstream_process.stdin is not None
        upstream_process.stdin.close()
        upstream_process.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"concurrency": args.concurrency, "seconds": args.seconds, "settings": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--only", nargs="*", help="settings to run (pinned, auto)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    print(f"concurrency {args.concurrency} for {args.seconds:.0f} s per setting, after a 5 s warm-up:", flush=True)
    write_report(args.out, run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
