"""The gateway's own overhead: the same chat request sent straight to an upstream that answers at once, through
a LiteLLM proxy (when it is installed) and through ``switchboard local``, in one run.

The upstream is a FAKE OpenAI-compatible server on loopback (``tests/support/fake_openai_server``) in a
process of its own, answering every request at once, so every millisecond above the direct figure is the
gateway's. Switchboard runs as a user runs it: ``switchboard local`` in a subprocess (the synthesised state
machine executed by the local stack's lean executor - or moto's interpreter, ``--executors moto``; both,
one server each, with ``--executors lean moto`` - traces journaled to a state directory), with a catalogue of three
models on that upstream and a judge policy that runs two judges (self-verification and an LLM judge) on
every tier but the last. Settings:

- ``direct``: the upstream itself (the baseline every other figure is measured against);
- ``litellm``: a LiteLLM proxy (``litellm --num_workers 1``, a master key) routing the model to the upstream;
- ``pinned``: Switchboard with ``model`` set to one model of the catalogue (no cascade, no judges: one call);
- ``pinned-verify``: the same with ``switchboard.verify: true`` (the judge policy's judges run on the answer:
  the same model calls as ``auto`` answered at tier 1, without the encoder and the plan);
- ``auto``: Switchboard's cascade over the three models; the judges accept the first tier's answer;
- ``auto-escalate``: the same, with judges that reject every answer, so all three tiers and four judge
  rounds run (the worst case of a three-tier plan).

For each: added latency p50/p95 at concurrency 1 (the setting's latency minus the direct p50) and
requests/s at concurrency 8, ``--requests`` requests at each (after a few warm-up requests). Prints a table
and writes everything to benchmarks/out/overhead.json.

Run: .venv/bin/python benchmarks/overhead.py [--requests 60] [--concurrency 8] [--no-litellm]
     [--executors lean moto]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

KEY_ENV = "SB_OVERHEAD_UPSTREAM_KEY"
ESCALATE = "[escalate]"
MASTER_KEY = "sk-overhead-master-0123456789"
MODELS = {"small": 0.1, "medium": 1.0, "large": 10.0}
PROMPT = "What is 2 + 2?"


def reply(body: dict) -> str:
    """Judges (their prompts fence the answer) say CORRECT, or INCORRECT when the request carries the
    escalation marker; every other request is answered "4"."""
    messages = body.get("messages") or [{}]
    if "<<<ANSWER" in str(messages[-1].get("content", "")):
        whole = " ".join(str(m.get("content", "")) for m in messages)
        return "VERDICT: INCORRECT" if ESCALATE in whole else "VERDICT: CORRECT"
    return "4"


def serve_upstream() -> int:
    """The upstream process: print its URL, answer until stdin closes."""
    from tests.support.fake_openai_server import FakeOpenAIServer

    server = FakeOpenAIServer(reply=reply).start()
    print(server.url, flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen, what: str, headers: dict | None = None,
               timeout_s: float = 300) -> None:
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        try:
            if httpx.get(url, timeout=2, headers=headers, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with status {process.returncode}")
        time.sleep(0.3)
    raise SystemExit(f"{what} did not become ready in {timeout_s:.0f} s")


def start_upstream() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, __file__, "--serve-upstream"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http"):
        raise SystemExit("the upstream did not start")
    return process, url


def start_switchboard(tmp: Path, upstream: str, port: int, executor: str = "lean") -> subprocess.Popen:
    tmp = tmp / executor
    tmp.mkdir(parents=True, exist_ok=True)
    catalog = tmp / "catalog.json"
    catalog.write_text(json.dumps([
        {"model_id": name, "provider": "openai", "provider_model": name, "endpoint": f"{upstream}/v1",
         "api_key_env": KEY_ENV, "timeout_s": 10.0,
         "price": {"input_usd_per_mtok": price, "output_usd_per_mtok": 2 * price}}
        for name, price in MODELS.items()]))
    # Two judges on every tier but the last, calibrated so that a unanimous stated CORRECT is accepted.
    policy = tmp / "judges.json"
    policy.write_text(json.dumps({"judges": ["self_verify", "llm_judge"], "threshold": 0.6, "calibration": {
        m: {"xs": [0.0, 0.99, 1.0], "ys": [0.1, 0.1, 0.9]} for m in MODELS}}))
    env = {**os.environ, KEY_ENV: "sk-upstream", "POWERTOOLS_LOG_LEVEL": "ERROR",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), "SB_JUDGE_POLICY": str(policy)}
    process = subprocess.Popen(
        [sys.executable, "-m", "switchboard.cli", "local", "--catalog", str(catalog), "--port", str(port),
         "--state-dir", str(tmp / "state"), "--no-pull", "--executor", executor],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(f"http://127.0.0.1:{port}/health", process, "switchboard local")
    return process


def start_litellm(tmp: Path, upstream: str, port: int, given: str | None = None) -> subprocess.Popen | None:
    """The LiteLLM proxy: ``given`` (``--litellm``: e.g. a virtualenv with ``litellm[proxy]``, whose server
    dependencies Switchboard's own environment does not carry), else the one beside this Python or on PATH."""
    binary = Path(given) if given else Path(sys.executable).parent / "litellm"
    if not binary.exists() and (given or shutil.which("litellm") is None):
        return None
    config = tmp / "litellm.yaml"
    config.write_text(
        "model_list:\n" + "".join(
            f"  - model_name: {name}\n    litellm_params:\n      model: openai/{name}\n"
            f"      api_base: {upstream}/v1\n      api_key: sk-upstream\n" for name in MODELS)
        + f"general_settings:\n  master_key: {MASTER_KEY}\n")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    log = tmp / "litellm.log"
    with log.open("w") as errors:
        process = subprocess.Popen(
            [str(binary if binary.exists() else shutil.which("litellm")), "--config", str(config), "--port",
             str(port), "--host", "127.0.0.1", "--num_workers", "1"],
            env=env, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        wait_ready(f"http://127.0.0.1:{port}/health/liveliness", process, "litellm", timeout_s=180)
    except SystemExit as exc:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        print(f"  LiteLLM not available: {exc}: {lines[-1] if lines else 'no output'}", flush=True)
        process.kill()
        return None
    return process


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure(name: str, url: str, body: dict, headers: dict, requests: int, concurrency: int,
            warmup: int) -> dict:
    """Latency of ``requests`` sequential requests, then the throughput of ``requests`` at ``concurrency``."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(timeout=120, trust_env=False, limits=limits, headers=headers) as client:
        def one(_: int) -> float:
            started = time.perf_counter()
            response = client.post(url, json=body)
            if response.status_code != 200:
                raise RuntimeError(f"{name}: HTTP {response.status_code}: {response.text[:300]}")
            return time.perf_counter() - started

        for i in range(warmup):
            one(i)
        latencies = [one(i) for i in range(requests)]
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(one, range(concurrency)))  # every connection open before the clock starts
            started = time.perf_counter()
            under_load = list(pool.map(one, range(requests)))
            wall = time.perf_counter() - started
    figures = {"p50_ms": round(1000 * statistics.median(latencies), 1), "p95_ms": round(1000 * pct(latencies, 0.95), 1),
               "mean_ms": round(1000 * statistics.fmean(latencies), 1), "requests_per_s": round(requests / wall, 1),
               "p50_under_load_ms": round(1000 * statistics.median(under_load), 1)}
    print(f"  {name:14s} p50 {figures['p50_ms']:7.1f} ms  p95 {figures['p95_ms']:7.1f} ms  "
          f"{figures['requests_per_s']:6.1f} req/s at concurrency {concurrency}", flush=True)
    return figures


def run(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="switchboard-overhead-"))
    processes: list[subprocess.Popen] = []
    try:
        upstream_process, upstream = start_upstream()
        processes.append(upstream_process)
        print(f"upstream at {upstream}; starting switchboard local ({', '.join(args.executors)})...", flush=True)
        sb_ports = {executor: free_port() for executor in args.executors}
        for executor, port in sb_ports.items():
            processes.append(start_switchboard(tmp, upstream, port, executor))
        litellm = None
        if not args.no_litellm:
            print("starting the LiteLLM proxy...", flush=True)
            litellm_port = free_port()
            litellm = start_litellm(tmp, upstream, litellm_port, args.litellm)
            if litellm is not None:
                processes.append(litellm)
        question = {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": 16}
        escalate = {"messages": [{"role": "user", "content": f"{PROMPT} {ESCALATE}"}], "max_tokens": 16}
        settings = [("direct", f"{upstream}/v1/chat/completions", {**question, "model": "small"}, {})]
        if litellm is not None:
            settings.append(("litellm", f"http://127.0.0.1:{litellm_port}/v1/chat/completions",
                             {**question, "model": "small"}, {"Authorization": f"Bearer {MASTER_KEY}"}))
        for executor, port in sb_ports.items():  # the first executor's settings are unlabelled
            sb = f"http://127.0.0.1:{port}/v1/chat/completions"
            label = "" if executor == args.executors[0] else f" [{executor}]"
            settings += [(name + label, sb, body, {}) for name, body in (
                ("pinned", {**question, "model": "small"}),
                ("pinned-verify", {**question, "model": "small", "switchboard": {"verify": True}}),
                ("auto", {**question, "model": "auto"}),
                ("auto-escalate", {**escalate, "model": "auto"}))]
        if args.only:
            settings = [s for s in settings if s[0] == "direct" or s[0].split(" [")[0] in args.only]
        print(f"{args.requests} requests per setting (concurrency 1, then {args.concurrency}):", flush=True)
        results = {name: measure(name, url, body, headers, args.requests, args.concurrency, args.warmup)
                   for name, url, body, headers in settings}
    finally:
        for process in reversed(processes):
            if process.stdin is not None:
                process.stdin.close()
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    direct = results["direct"]
    for name, figures in results.items():
        if name != "direct":
            figures["added_p50_ms"] = round(figures["p50_ms"] - direct["p50_ms"], 1)
            figures["added_p95_ms"] = round(figures["p95_ms"] - direct["p50_ms"], 1)
    return {"requests": args.requests, "concurrency": args.concurrency, "warmup": args.warmup,
            "executors": args.executors, "litellm": "litellm" in results, "settings": results}


def table(report: dict) -> str:
    rows = ["| path | added p50 (c=1) | added p95 (c=1) | requests/s (c={}) |".format(report["concurrency"]),
            "|---|---|---|---|"]
    for name, f in report["settings"].items():
        added = (f"{f['added_p50_ms']:.1f} ms", f"{f['added_p95_ms']:.1f} ms") if name != "direct" else \
            (f"({f['p50_ms']:.1f} ms itself)", f"({f['p95_ms']:.1f} ms itself)")
        rows.append(f"| {name} | {added[0]} | {added[1]} | {f['requests_per_s']:.1f} |")
    if not report["litellm"]:
        rows.append("| litellm | not available | | |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=60, help="requests per setting and concurrency")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--no-litellm", action="store_true", help="leave the LiteLLM proxy out")
    parser.add_argument("--litellm", default=None, metavar="PATH",
                        help="the litellm executable to run the proxy with (e.g. from a virtualenv with litellm[proxy])")
    parser.add_argument("--only", nargs="*", help="settings to run besides direct (e.g. pinned auto)")
    parser.add_argument("--executors", nargs="+", choices=("lean", "moto"), default=["lean"],
                        help="what executes the state machine (switchboard local --executor); several: one server "
                             "each, measured in the same run (settings of all but the first are labelled)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "overhead.json")
    parser.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        return serve_upstream()
    report = run(args)
    print(table(report))
    write_report(args.out, report)
    return 0


def write_report(path: Path, report: dict) -> None:
    """The figures as JSON at ``path`` (benchmarks/out/...), said on the console."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
