"""Handler times, in process: what each Lambda handler costs by itself, for the per-hop latency model of
docs/architecture.md ("Latency, hop by hop").

For each function of the synthesised template (router, tier, judge, decide, record, compose):

- **import (cold init)**: a fresh interpreter imports ``functions/<fn>/handler.py`` (``--imports`` times;
  the median is reported). This is the code-initialisation part of a Lambda cold start - what SnapStart
  snapshots and provisioned concurrency runs ahead of time; the runtime's own start is not in it. For the
  router it also times loading the sentence encoder (ONNX), which the router does on its first request.
- **first call**: the first invocation in this process with a fresh composition container (clients,
  settings and catalogue reads built lazily; the encoder is loaded once per process, before the timing:
  see "import"), on the first sample event in name order.
- **warm**: ``-n`` further invocations of each sample event ``events/<fn>/*.json``, p50/p95.

The handlers run as ``sam local invoke`` runs them (tests/functional/test_sample_events.py does the same):
the template's environment, the local stack's emulators in this process - moto on loopback for DynamoDB,
S3 and the Express state machine - and Bedrock simulated on loopback behind the real Bedrock adapter,
answering at once, so model time is excluded: add the models' own latency to these figures. A router event
that runs a cascade (chat completions, /v1/route) runs it on the emulator; the time the router waits for
it is measured apart and taken out ("router own"), as in AWS that wait is the state machine's hops.

    .venv/bin/python benchmarks/handler_times.py [-n 30] [--imports 3]

Writes benchmarks/out/handler_times.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]
OUT = ROOT / "benchmarks" / "out" / "handler_times.json"
EVENTS = ROOT / "events"
FUNCTIONS = ["router", "tier", "judge", "decide", "record", "compose"]

_IMPORT = """
import json, time, importlib
t = time.perf_counter()
importlib.import_module("functions.{fn}.handler")
out = {{"import_ms": (time.perf_counter() - t) * 1000}}
if "{fn}" == "router":
    from switchboard.adapters.encoder import get_encoder
    t = time.perf_counter()
    get_encoder().embed_one("warm up")
    out["encoder_load_ms"] = (time.perf_counter() - t) * 1000
print(json.dumps(out))
"""


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))], 2)


def summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50_ms": pct(values, 0.5), "p95_ms": pct(values, 0.95),
            "mean_ms": round(statistics.fmean(values), 2) if values else None}


def import_times(fn: str, repeats: int) -> dict[str, Any]:
    """Import the handler in fresh interpreters (the code-initialisation part of a cold start)."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}", "POWERTOOLS_METRICS_DISABLED": "true",
           "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    runs: list[dict[str, float]] = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", _IMPORT.format(fn=fn)], cwd=ROOT, env=env, check=True,
                              capture_output=True, text=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    out = {"import_ms": round(statistics.median(r["import_ms"] for r in runs), 1),
           "import_runs_ms": [round(r["import_ms"], 1) for r in runs]}
    if any("encoder_load_ms" in r for r in runs):
        out["encoder_load_ms"] = round(statistics.median(r["encoder_load_ms"] for r in runs), 1)
    return out


class CallCounter(Counter[str]):
    paused = False


def count_aws_calls() -> CallCounter:
    """Count the AWS API calls made on this thread as "service:Operation": the handler's own (the emulated
    state machine runs the cascade's tasks on the emulator's threads; model calls run on a worker thread
    with the request's deadline, and are not listed)."""
    from botocore.client import BaseClient

    counter = CallCounter()
    main = threading.get_ident()
    real = BaseClient._make_api_call

    def counted(self: Any, operation: str, params: Any) -> Any:
        if threading.get_ident() == main and not counter.paused:
            counter[f"{self.meta.service_model.service_name}:{operation}"] += 1
        return real(self, operation, params)

    BaseClient._make_api_call = counted  # type: ignore[method-assign]
    return counter


class Handlers:
    """The template's functions, invoked in process under the environment the template gives each."""

    def __init__(self, stack: Any) -> None:
        from switchboard.local.provisioning import resources_of

        self.stack = stack
        self.functions = {r["Properties"]["Handler"].split(".")[0]: (lid, r["Properties"])
                          for lid, r in resources_of(stack.template, "AWS::Lambda::Function").items()
                          if r["Properties"].get("Handler", "").endswith(".lambda_handler")}

    def prepare(self, fn: str) -> Callable[[dict[str, Any]], Any]:
        """Set ``fn``'s environment and a fresh container; return the call of its handler."""
        from switchboard import composition
        from switchboard.local.emulator import LocalLambdaContext

        logical_id, props = self.functions[fn]
        for key, value in props.get("Environment", {}).get("Variables", {}).items():
            os.environ[key] = self.stack.resources.resolve(value, self.stack.template)
        if fn == "router":
            os.environ["SB_ORCHESTRATION"] = "poll"  # moto has no StartSyncExecution
            os.environ.pop("SB_STREAM_TOKENS", None)
        os.environ.update({"AWS_LAMBDA_FUNCTION_NAME": logical_id,
                           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(props["MemorySize"]),
                           "AWS_LAMBDA_FUNCTION_TIMEOUT": str(props["Timeout"])})
        composition.use(composition.Container(composition.Parts()))
        handler = self.stack.dispatcher._handlers[logical_id]
        context = LocalLambdaContext(function_name=logical_id, memory_limit_in_mb=props["MemorySize"])

        def call(event: dict[str, Any]) -> Any:
            with contextlib.redirect_stdout(io.StringIO()):  # what Lambda sends to CloudWatch (logs, EMF)
                return handler(json.loads(json.dumps(event)), context)

        return call


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=30, help="warm invocations per sample event")
    parser.add_argument("--imports", type=int, default=3, help="fresh interpreters per handler import")
    args = parser.parse_args()

    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

    load_before = os.getloadavg()  # the machine may be shared: its load says how far to trust the tails
    cold = {}
    for fn in FUNCTIONS:
        cold[fn] = import_times(fn, args.imports)
        print(f"import {fn:8s} {cold[fn]['import_ms']:8.1f} ms"
              + (f"   encoder load {cold[fn]['encoder_load_ms']:.1f} ms" if "encoder_load_ms" in cold[fn] else ""),
              flush=True)

    from switchboard.adapters import orchestration
    from switchboard.adapters.encoder import get_encoder
    from switchboard.adapters.stores.dynamo_keys import DynamoKeys
    from switchboard.local.provisioning import DATA_DIR
    from switchboard.local.stack import LocalStack, StackOptions
    from switchboard.ports import ApiKey
    from switchboard.service.api_keys import hash_key
    from tests.support.simulated_bedrock import SimulatedBedrockRuntime

    sample_key = json.loads((EVENTS / "router" / "chat_completion.json").read_text())["headers"]["authorization"]
    waits: list[float] = []  # the router's waits on the cascade (the emulated state machine)
    real_run = orchestration.PollingOrchestrator.run

    def timed_run(self: Any, state: Any) -> Any:
        # Deployed, this is one StartSyncExecution; here a StartExecution and its polls, not counted.
        calls["stepfunctions:StartSyncExecution"] += 1
        calls.paused = True
        start = time.perf_counter()
        try:
            return real_run(self, state)
        finally:
            waits.append((time.perf_counter() - start) * 1000)
            calls.paused = False

    orchestration.PollingOrchestrator.run = timed_run  # type: ignore[method-assign]
    calls = count_aws_calls()
    get_encoder().embed_one("warm up")  # once per process, as in a Lambda environment (timed above)
    results: dict[str, Any] = {}
    with SimulatedBedrockRuntime() as bedrock:
        os.environ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = bedrock.url
        stack = LocalStack(StackOptions(catalog_path=DATA_DIR / "catalog.bedrock.json", require_keys=True,
                                        deadline_s=24.0)).start()
        try:
            keys = DynamoKeys(stack.environment["SB_KEYS_TABLE"], client=stack.aws.client("dynamodb"))
            keys.create(ApiKey(key_id="key_bench", key_hash=hash_key(sample_key.removeprefix("Bearer ")),
                               name="handler times", budget_usd=1000.0, available_usd=1000.0))
            handlers = Handlers(stack)
            for fn in FUNCTIONS:
                events = sorted((EVENTS / fn).glob("*.json"))
                call = handlers.prepare(fn)
                first_event = json.loads(events[0].read_text())
                del waits[:]
                start = time.perf_counter()
                call(first_event)
                first_ms = (time.perf_counter() - start) * 1000 - sum(waits)  # the router's own, as below
                per_event: dict[str, Any] = {}
                warm_all: list[float] = []
                for path in events:
                    event = json.loads(path.read_text())
                    times, own, status = [], [], None
                    for _ in range(args.n):
                        del waits[:]
                        calls.clear()
                        start = time.perf_counter()
                        out = call(event)
                        elapsed = (time.perf_counter() - start) * 1000
                        times.append(elapsed)
                        own.append(elapsed - sum(waits))
                        status = out.get("statusCode") if isinstance(out, dict) else None
                    entry = summary(times)
                    entry["aws_calls"] = dict(sorted(calls.items()))  # the last invocation's, by the handler itself
                    if fn == "router":
                        entry["status"] = status
                        if any(abs(t - o) > 1e-9 for t, o in zip(times, own, strict=True)):
                            entry["runs_cascade"] = True
                            entry["own"] = summary(own)  # the cascade's wait taken out
                    per_event[path.stem] = entry
                    warm_all += own if fn == "router" else times
                results[fn] = {**cold[fn], "first_call_ms": round(first_ms, 1), "warm": summary(warm_all),
                               "events": per_event}
                print(f"{fn:8s} first call {first_ms:8.1f} ms   warm p50 {results[fn]['warm']['p50_ms']:7.2f} ms"
                      f"  p95 {results[fn]['warm']['p95_ms']:7.2f} ms  ({len(events)} events x {args.n})", flush=True)
                for name, entry in per_event.items():
                    own_part = (f"   own p50 {entry['own']['p50_ms']:7.2f} p95 {entry['own']['p95_ms']:7.2f}"
                                if "own" in entry else "")
                    print(f"    {name:24s} p50 {entry['p50_ms']:8.2f}  p95 {entry['p95_ms']:8.2f}{own_part}")
        finally:
            stack.stop()
            orchestration.PollingOrchestrator.run = real_run  # type: ignore[method-assign]

    report = {"what": "Lambda handlers in process: import in a fresh interpreter (median), first call with a "
                      "fresh container, warm p50/p95 over the sample events; moto on loopback for DynamoDB, "
                      "S3 and the state machine; Bedrock simulated on loopback (model time excluded); the "
                      "router's wait on the cascade taken out of its warm figures",
              "machine": {"python": platform.python_version(), "platform": platform.platform(),
                          "cpus": os.cpu_count(), "load_average_1m_before_after": [
                              round(load_before[0], 2), round(os.getloadavg()[0], 2)]},
              "n": args.n, "imports": args.imports, "handlers": results}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
