"""The serving commands: ``local``, ``ask``, ``models pull``."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path

from switchboard import envvars as names
from switchboard.http.server import api_gateway_event


def _local_env(verbose: bool) -> None:
    """Quiet defaults for the in-process Lambdas: no EMF metric lines on stdout locally (there is no
    CloudWatch to read them), no X-Ray (no daemon to send to), warnings only unless --verbose."""
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO" if verbose else "WARNING")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "switchboard-local")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The embedded emulator's HTTP server logs every internal AWS call (hundreds per request) at INFO.
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)


def _local_pool(catalog_path: Path | None) -> list[str]:
    """The local GGUF models a catalogue uses (the shipped local catalogue by default)."""
    from switchboard.domain.catalog import ModelEntry
    from switchboard.local.stack import DATA_DIR

    path = catalog_path or DATA_DIR / "catalog.local.json"
    entries = [ModelEntry.model_validate(raw) for raw in json.loads(Path(path).read_text(encoding="utf-8"))]
    return [e.provider_model for e in entries if e.provider == "local_gguf" and not e.provider_model.endswith(".gguf")]


def _pull_catalog_models(catalog_path: Path | None) -> None:
    from switchboard.adapters.providers.gguf_store import ensure_model

    for name in _local_pool(catalog_path):
        ensure_model(name)


def _stack(args: argparse.Namespace):
    from switchboard.local.stack import LocalStack, StackOptions

    if not args.no_pull:
        _pull_catalog_models(args.catalog)
    from switchboard.local.stack import LocalStackError, default_state_dir

    state_dir = None if args.ephemeral else (args.state_dir or default_state_dir())
    try:
        stack = LocalStack(StackOptions(catalog_path=args.catalog, taxonomy_path=args.taxonomy,
                           dynamodb_endpoint=args.dynamodb_endpoint, router_artifacts=args.artifacts,
                           state_dir=state_dir, deadline_s=args.deadline_s,
                           require_keys=getattr(args, "require_keys", False),
                           decomposition=args.decompose, executor=args.executor or "")).start()
    except LocalStackError as exc:
        raise SystemExit(f"error: {exc}") from None
    for warning in stack.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return stack


def cmd_local(args: argparse.Namespace) -> int:
    from switchboard.http.server import LocalServer

    _local_env(args.verbose)
    # Bind first: a busy port should fail in a second, not after the stack has started.
    try:
        server = LocalServer(None, host=args.host, port=args.port)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port} ({exc.strerror}); choose another with --port N",
              file=sys.stderr)
        return 2
    print("starting Switchboard's local stack (synth, emulator, models)...", file=sys.stderr)
    stack = _stack(args)
    server.attach(stack)
    print(f"Switchboard is serving on {server.url}  (OpenAI base_url: {server.url}/v1)", file=sys.stderr)
    print(f"  state machine: the synthesised definition, run by the {stack.executor} executor", file=sys.stderr)
    keys_table = stack.environment.get(names.ENV_KEYS_TABLE)
    print(f"  API keys{' (required)' if args.require_keys else ''}: switchboard keys create --budget-usd 1 "
          f"--table {keys_table} --endpoint-url {stack.environment['AWS_ENDPOINT_URL_DYNAMODB']}", file=sys.stderr)
    print(f"  try: curl -s {server.url}/v1/chat/completions -H 'Content-Type: application/json' "
          "-d '{\"messages\":[{\"role\":\"user\",\"content\":\"What is 2+2?\"}]}'", file=sys.stderr)
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        stack.stop()
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    _local_env(args.verbose)
    body: dict = {"model": args.model, "messages": [{"role": "user", "content": args.prompt}],
                  "max_tokens": args.max_tokens}
    if args.max_cost_usd is not None or args.quality is not None:
        body["switchboard"] = {k: v for k, v in (("max_cost_usd", args.max_cost_usd), ("quality", args.quality))
                               if v is not None}
    real_stdout = sys.stdout
    url = args.url or (None if args.fresh or _shapes_the_stack(args) else _running_server(DEFAULT_URL))
    if url is not None:  # a stack is already serving: no start-up to pay
        status, payload = _ask_over_http(url, body)
        print(f"(asked the Switchboard serving at {url}; --fresh starts a stack of its own)", file=sys.stderr)
    else:
        # Everything the in-process Lambdas print (logs) goes to stderr so stdout is only the answer.
        with contextlib.redirect_stdout(sys.stderr):
            stack = _stack(args)
            try:
                event = api_gateway_event("POST", "/v1/chat/completions", {"content-type": "application/json"},
                                          json.dumps(body).encode())
                result = stack.invoke_router(event)
            finally:
                stack.stop()
        status = int(result.get("statusCode", 500))
        payload = json.loads(result.get("body") or "{}")
    if args.json:
        print(json.dumps({"status": status, **payload}, indent=2), file=real_stdout)
    elif status == 200:
        print(payload["choices"][0]["message"]["content"], file=real_stdout)
        print("\n" + "\n".join(summary_lines(payload)), file=real_stdout)
    else:
        print(f"error {status}: {payload.get('error', {}).get('message')}", file=real_stdout)
    return 0 if status == 200 else 1


DEFAULT_URL = "http://127.0.0.1:8080"


def _how(sb: dict, model: str) -> str:
    region = sb.get("judge_region")
    measured = f" (judges measured on {region} prompts)" if region else ""
    tier = (sb.get("answered_by") or {}).get("tier")
    decision = sb.get("decision") or {"action": "none", "reason": "no decision"}
    return (f"answered by {model} (tier {tier}), decision {decision['action']} ({decision['reason']}), "
            f"verified {sb.get('verified')}{measured}, confidence {sb['confidence']}, cost ${sb['cost_usd']:.8f}")


def summary_lines(payload: dict) -> list[str]:
    """What ``ask`` prints under the answer: who answered and how it was judged; for a decomposed request,
    the decomposer's call and each part the same way; for one the detector flagged but that ran whole, why."""
    sb = payload["switchboard"]
    d = sb.get("decomposition")
    if not d or not d.get("decomposed"):
        lines = [f"-- {_how(sb, payload['model'])}, trace {sb['trace_id']}"]
        if d:
            lines.append(f"-- not decomposed: {d.get('outcome')}")
        return lines
    call = d.get("decomposer") or {}
    lines = [f"-- decomposed into {len(d['parts'])} parts by {call.get('model')} (cost ${call.get('cost_usd', 0):.8f}); "
             f"verified {sb.get('verified')}, total cost ${sb['cost_usd']:.8f}, trace {sb['trace_id']}"]
    for part in d["parts"]:
        model = (part.get("answered_by") or {}).get("model") or "nobody"
        lines.append(f"-- part {part['part']}: {_how(part, model)}")
    return lines


def _shapes_the_stack(args: argparse.Namespace) -> bool:
    """Whether an option asks for a stack other than the default one (a running server may not be it)."""
    return any(getattr(args, name, None) for name in ("catalog", "taxonomy", "artifacts", "dynamodb_endpoint",
                                                      "state_dir", "ephemeral", "require_keys", "decompose"))


def _running_server(url: str) -> str | None:
    """``url`` when a Switchboard answers its health check there, else None (quickly: nothing listens)."""
    import httpx

    try:
        response = httpx.get(f"{url}/health", timeout=2.0, trust_env=False)
        return url if response.status_code == 200 and response.json().get("status") == "ok" else None
    except (httpx.HTTPError, ValueError):
        return None


def _ask_over_http(url: str, body: dict) -> tuple[int, dict]:
    import httpx

    key = os.environ.get("SWITCHBOARD_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.post(f"{url.rstrip('/')}/v1/chat/completions", json=body, headers=headers, timeout=900,
                              trust_env=False)
    except httpx.HTTPError as exc:
        raise SystemExit(f"error: cannot reach {url}: {type(exc).__name__}") from None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, {"error": {"message": response.text[:300]}}


def cmd_models_pull(args: argparse.Namespace) -> int:
    from switchboard.adapters.providers.gguf_store import pull_main

    return pull_main(args.names or _local_pool(None))


def _add_stack_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--catalog", type=Path, default=None, help="model catalogue JSON (default: local pool)")
    parser.add_argument("--taxonomy", type=Path, default=None,
                        help="taxonomy seed or trained taxonomy.json (default: the shipped seed)")
    parser.add_argument("--artifacts", type=Path, default=None,
                        help="a `switchboard train --out` directory: its taxonomy and learned router")
    parser.add_argument("--dynamodb-endpoint", default=None,
                        help="use this DynamoDB endpoint (e.g. DynamoDB Local) instead of the embedded emulator")
    parser.add_argument("--no-pull", action="store_true", help="do not download missing local models")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="where traces are kept across restarts (default: $SB_STATE_DIR or "
                             "~/.cache/switchboard/state)")
    parser.add_argument("--ephemeral", action="store_true", help="keep traces in memory only")
    parser.add_argument("--deadline-s", type=float, default=240.0,
                        help="each request's deadline in seconds (local models run on a CPU)")
    parser.add_argument("--decompose", action="store_true",
                        help="split requests the detector finds compound into parts, each its own cascade (off by "
                             "default: the local decomposer's measured error is high, see docs/benchmarks.md)")
    parser.add_argument("--executor", choices=("lean", "moto"), default=None,
                        help="what executes the synthesised state machine: the lean executor (default; $SB_LOCAL_EXECUTOR) "
                             "or moto's ASL interpreter")
    parser.add_argument("-v", "--verbose", action="store_true")
