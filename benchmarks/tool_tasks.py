"""Tool loops with the real local pool: how often a model calls the tool a question needs, reads its result
and answers with the value only the tool knows - and how often it calls a tool where none is wanted.

Runs the tasks of benchmarks/tool_task_set.py through a local stack (the synthesised state machine, the
five handlers, the real GGUF models) over HTTP, as an agent framework would: each answer's tool calls are
run (the task set's deterministic tools) and their results sent back as ``role: "tool"`` messages, up to
``--turns`` requests a task, with ``tool_choice: "auto"``. Per model (pinned) and for ``auto``: the pass
rate per kind of task, and for each failure what the model did. Results are written after every task to
benchmarks/out/tool_tasks.json (a re-run resumes where it stopped).

Run: nice .venv/bin/python benchmarks/tool_tasks.py [--models auto,qwen2.5-coder-0.5b] [--limit N]
     [--needs-tool 10 --no-tool 5]  (a small sample: the first tasks of each group, round-robin over kinds)
     [--out benchmarks/out/tool_tasks_sample.json]
     [--tool-form protocol]  (the models read tools in Switchboard's protocol instead of their own template;
     results are labelled "<model>/protocol")
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from benchmarks.tool_task_set import TOOLS, Task, run_tool, tasks  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "tool_tasks.json"


def interleaved(all_tasks: list[Task]) -> list[Task]:
    """Tasks in round-robin order of their kinds, so a partial run covers every kind."""
    kinds: dict[str, list[Task]] = {}
    for task in all_tasks:
        kinds.setdefault(task.kind, []).append(task)
    out: list[Task] = []
    while any(kinds.values()):
        for queue in kinds.values():
            if queue:
                out.append(queue.pop(0))
    return out


def sample(ordered: list[Task], needs_tool: int | None, no_tool: int | None) -> list[Task]:
    """The first ``needs_tool`` tasks that need a tool and the first ``no_tool`` that need none (None: all)."""
    needing = [t for t in ordered if t.kind != "no_tool"][:needs_tool]
    none = [t for t in ordered if t.kind == "no_tool"][:no_tool]
    return [t for t in ordered if t in needing or t in none]


def grade(task: Task, calls: list[dict], answer: str | None, error: str | None) -> tuple[bool, str]:
    """Whether the task passed, and what happened."""
    if task.kind == "no_tool":
        if calls:
            return False, f"called {calls[0]['name']}({json.dumps(calls[0]['arguments'])[:60]}) where no tool is wanted"
        if answer is None:
            return False, f"no answer: {error}"
        return True, "answered in text"
    called = {c["name"] for c in calls}
    if not calls:
        return False, f"no call; answered {answer!r:.80}" if answer is not None else f"no call; {error}"
    missing = [name for name in task.needs if name not in called]
    if missing:
        return False, f"never called {missing}"
    for key, want in task.args.items():
        if not any(str(c["arguments"].get(key, "")).strip().lower() == want for c in calls
                   if isinstance(c["arguments"], dict)):
            return False, f"no call with {key}={want!r}: {[c['arguments'] for c in calls]}"[:160]
    if answer is None:
        return False, f"the loop did not end in an answer: {error}"
    if not all(any(option.lower() in answer.lower() for option in group.split("|")) for group in task.expect):
        return False, f"answer lacks {list(task.expect)}: {answer!r:.100}"
    return True, "called, read the result, answered with it"


def run_task(url: str, model: str, task: Task, turns: int, max_tokens: int) -> dict:
    messages: list[dict] = [{"role": "user", "content": task.prompt}]
    calls: list[dict] = []
    answer, error, served = None, None, []
    started = time.perf_counter()
    for _ in range(turns):
        response = httpx.post(f"{url}/v1/chat/completions", timeout=600, json={
            "model": model, "messages": messages, "tools": TOOLS, "tool_choice": "auto", "max_tokens": max_tokens})
        body = response.json()
        if response.status_code != 200:
            error = f"{response.status_code}: {body.get('error', {}).get('message', '')[:200]}"
            break
        served.append(body["switchboard"]["answered_by"]["model"])
        message = body["choices"][0]["message"]
        if not message.get("tool_calls"):
            answer = message.get("content") or ""
            break
        messages.append({"role": "assistant", "content": message.get("content"), "tool_calls": message["tool_calls"]})
        for call in message["tool_calls"]:
            arguments = json.loads(call["function"]["arguments"])
            calls.append({"name": call["function"]["name"], "arguments": arguments})
            messages.append({"role": "tool", "tool_call_id": call["id"],
                             "content": run_tool(call["function"]["name"], arguments)})
    else:
        error = f"no answer after {turns} requests"
    passed, why = grade(task, calls, answer, error)
    return {"task": task.id, "kind": task.kind, "model": model, "passed": passed, "why": why, "calls": calls,
            "answer": answer, "error": error, "requests": len(served) + (1 if error and "no answer" not in error else 0),
            "served_by": served, "seconds": round(time.perf_counter() - started, 1)}


def summary(results: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for row in results:
        model = out.setdefault(row["model"], {})
        for key in (row["kind"], "needs_tool" if row["kind"] != "no_tool" else "no_tool_total", "all"):
            cell = model.setdefault(key, {"n": 0, "passed": 0})
            cell["n"] += 1
            cell["passed"] += int(row["passed"])
    for model in out.values():
        for cell in model.values():
            cell["rate"] = round(cell["passed"] / cell["n"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="auto,qwen2.5-coder-0.5b,qwen2.5-coder-1.5b")
    parser.add_argument("--limit", type=int, default=None, help="first N tasks (round-robin over kinds)")
    parser.add_argument("--needs-tool", type=int, default=None,
                        help="a sample: the first N tasks that need a tool (round-robin over their kinds)")
    parser.add_argument("--no-tool", type=int, default=None, help="a sample: the first N tasks that need none")
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--tool-form", choices=["native", "protocol"], default="native",
                        help="how tools reach the local models (the catalogue's tool_form)")
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    from switchboard.http.server import LocalServer
    from switchboard.local.emulator import free_port
    from switchboard.local.stack import LocalStack, StackOptions

    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    results: list[dict] = previous.get("results", [])
    done = {(r["model"], r["task"]) for r in results}
    label = "" if args.tool_form == "native" else f"/{args.tool_form}"
    catalog = None
    if args.tool_form != "native":  # the local pool's catalogue with every model's tool form set
        import tempfile

        from switchboard.local.provisioning import DATA_DIR

        entries = [{**e, "tool_form": args.tool_form} for e in json.loads((DATA_DIR / "catalog.local.json").read_text())]
        catalog = Path(tempfile.mkdtemp()) / "catalog.json"
        catalog.write_text(json.dumps(entries))
    chosen = sample(interleaved(tasks())[: args.limit], args.needs_tool, args.no_tool)
    stack = LocalStack(StackOptions(catalog_path=catalog, deadline_s=900)).start()
    server = LocalServer(stack, port=free_port()).start_background()
    try:
        for model in args.models.split(","):
            for task in chosen:
                if (model + label, task.id) in done:
                    continue
                row = run_task(server.url, model, task, args.turns, args.max_tokens)
                row["model"] += label
                results.append(row)
                print(f"{model:22} {task.id:20} {'PASS' if row['passed'] else 'fail'} {row['seconds']:6.1f}s "
                      f"{row['why'][:90]}", flush=True)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps({"tasks": len(tasks()), "turns": args.turns,
                                                "max_tokens": args.max_tokens, "summary": summary(results),
                                                "results": results}, indent=1))
    finally:
        server.stop()
        stack.stop()
    print(json.dumps(summary(results), indent=1))


if __name__ == "__main__":
    main()
