"""A lean executor of the cascade's state-machine definition, for the local stack.

The local stack runs the definition the CDK app synthesised, and moto's ASL interpreter (ported from
LocalStack's) runs any definition. It pays for that generality at every state: history events, a deep copy of
the state's data at each step, a compiled-JSONPath match per read, a thread and an environment per Map
iteration - several milliseconds per state on one core, which made ``auto`` (about eight states and a Map of
four judges) 3.7x a pinned request (docs/benchmarks.md, "Overhead"). This executor runs the subset of the
language that definition is written in, with the language's semantics for it:

- states ``Task`` (a Lambda function by its ARN, ``TimeoutSeconds``), ``Pass``, ``Choice``, ``Map`` (inline,
  ``ItemsPath``, ``ItemSelector``, ``MaxConcurrency``), ``Succeed`` and ``Fail``;
- ``InputPath``, ``Parameters``, ``ResultSelector``, ``ResultPath`` and ``OutputPath`` on reference paths, and the
  context object's ``$$.Execution``, ``$$.State`` and ``$$.Map.Item`` fields;
- ``Retry`` (``IntervalSeconds``, ``MaxAttempts``, ``BackoffRate``, ``MaxDelaySeconds``, ``JitterStrategy``) and
  ``Catch`` (``ResultPath``), with ``States.ALL``, ``States.TaskFailed``, ``States.Timeout`` and
  ``States.Runtime`` as AWS defines them; a Lambda function's error is named by its ``errorType``, with
  the function's error payload as the cause, as Step Functions reports it.

Anything else in a definition - another state type or field, an intrinsic function, a JSONPath beyond a
reference path - raises ``Unsupported`` when the definition is parsed, naming it, and the local stack then
runs the definition on moto's interpreter (``local.stack``). Each state's data is the JSON the previous state
produced: a Lambda task gets a fresh copy and its result is parsed from its JSON, and ``ResultPath`` builds a
new document along its path, so no state changes another's data in place and nothing is deep-copied.
``tests/functional/test_lean_executor.py`` runs the synthesised definition on both executors, scenario by
scenario, and compares what each task was given and what each execution returned.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from switchboard.local.asl_data import Path, Rule, StatesError, Template, Unsupported, error_matches

Invoke = Callable[[str, dict], tuple[bool, Any]]  # (function name or ARN, payload) -> (ok, result)
Spawn = Callable[[Callable[[], Any]], None]  # runs work on another thread
MAX_STATES = 25_000  # state entries per execution (a Standard workflow's history limit): a runaway loop ends
_FUNCTION_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9$_-]+)?$")
_COMMON = {"Type", "Comment", "Next", "End", "InputPath", "OutputPath"}
_FIELDS = {
    "Task": _COMMON | {"Resource", "TimeoutSeconds", "Retry", "Catch", "ResultPath", "ResultSelector", "Parameters"},
    "Pass": _COMMON | {"Result", "ResultPath", "Parameters"},
    "Choice": {"Type", "Comment", "Choices", "Default", "InputPath", "OutputPath"},
    "Map": _COMMON | {"ItemsPath", "ItemSelector", "Parameters", "ItemProcessor", "Iterator", "MaxConcurrency",
                      "ResultPath", "ResultSelector", "Retry", "Catch"},
    "Succeed": {"Type", "Comment", "InputPath", "OutputPath"},
    "Fail": {"Type", "Comment", "Error", "Cause"},
}
_RETRIER = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy",
            "Comment"}


_WHOLE = Path.parse("$")  # an absent path field: the whole document


def _optional_path(spec: dict, key: str) -> Path | None:
    """A path field: absent → ``$`` (the whole document), null → None, else the parsed path."""
    if key not in spec:
        return _WHOLE
    return None if spec[key] is None else Path.parse(spec[key])


def _select(path: Path | None, data: Any) -> Any:
    """InputPath, OutputPath, ItemsPath: null selects an empty object."""
    return {} if path is None else path.get(data)


def _place(path: Path | None, data: Any, result: Any) -> Any:
    """ResultPath: null discards the result (the input goes on)."""
    return data if path is None else path.put(data, result)


@dataclass
class Retrier:
    errors: list[str]
    interval_s: float = 1.0
    max_attempts: int = 3
    backoff: float = 2.0
    max_delay_s: float | None = None
    jitter: bool = False

    @classmethod
    def parse(cls, spec: dict, where: str) -> Retrier:
        extra = set(spec) - _RETRIER
        if extra or spec.get("JitterStrategy", "NONE") not in ("NONE", "FULL"):
            raise Unsupported(f"{where}: Retry field(s) {sorted(extra) or ['JitterStrategy']} not supported")
        return cls(list(spec["ErrorEquals"]), float(spec.get("IntervalSeconds", 1)), int(spec.get("MaxAttempts", 3)),
                   float(spec.get("BackoffRate", 2.0)), spec.get("MaxDelaySeconds"), spec.get("JitterStrategy") == "FULL")

    def delay_s(self, attempt: int) -> float:
        delay = self.interval_s * self.backoff ** attempt
        if self.max_delay_s is not None:
            delay = min(delay, float(self.max_delay_s))
        return random.uniform(0, delay) if self.jitter else delay  # noqa: S311 - jitter, not secrecy


@dataclass
class Catcher:
    errors: list[str]
    next: str
    result_path: Path | None

    @classmethod
    def parse(cls, spec: dict, where: str) -> Catcher:
        extra = set(spec) - {"ErrorEquals", "Next", "ResultPath", "Comment"}
        if extra:
            raise Unsupported(f"{where}: Catch field(s) {sorted(extra)} not supported")
        return cls(list(spec["ErrorEquals"]), spec["Next"], _optional_path(spec, "ResultPath"))


@dataclass
class State:
    """One state of a machine, its fields parsed."""

    name: str
    kind: str
    spec: dict
    next: str | None = None
    end: bool = False
    input_path: Path | None = _WHOLE
    output_path: Path | None = _WHOLE
    result_path: Path | None = _WHOLE
    parameters: Template | None = None
    result_selector: Template | None = None
    retriers: list[Retrier] = field(default_factory=list)
    catchers: list[Catcher] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    items_path: Path | None = _WHOLE
    needs_context: bool = False  # a template of the state reads the context object ($$)
    processor: Machine | None = None


class Machine:
    """A parsed definition (or a Map's item processor); ``Unsupported`` names what it cannot run."""

    def __init__(self, definition: dict, where: str = "") -> None:
        extra = set(definition) - {"StartAt", "States", "Comment", "Version", "ProcessorConfig", "TimeoutSeconds"}
        if extra or definition.get("QueryLanguage", "JSONPath") != "JSONPath":
            raise Unsupported(f"{where or 'the definition'}: field(s) {sorted(extra)} not supported")
        if "TimeoutSeconds" in definition and where:
            raise Unsupported(f"{where}: TimeoutSeconds is a field of the definition, not of a Map's processor")
        self.timeout_s: float | None = definition.get("TimeoutSeconds")
        mode = (definition.get("ProcessorConfig") or {}).get("Mode", "INLINE")
        if mode != "INLINE":
            raise Unsupported(f"{where}: a {mode} Map is not supported")
        self.start: str = definition["StartAt"]
        self.states = {name: self._state(name, spec, f"{where}{name}") for name, spec in definition["States"].items()}
        for state in self.states.values():
            targets = [state.next] + [c.next for c in state.catchers] + [r.next for r in state.rules]
            targets.append(state.spec.get("Default"))
            for target in targets:
                if target is not None and target not in self.states:
                    raise Unsupported(f"{where}{state.name}: no state {target!r}")
        if self.start not in self.states:
            raise Unsupported(f"{where}: StartAt {self.start!r} names no state")

    @staticmethod
    def _state(name: str, spec: dict, where: str) -> State:
        kind = spec.get("Type", "")
        if kind not in _FIELDS:
            raise Unsupported(f"{where}: a {kind or 'typeless'} state is not supported")
        extra = set(spec) - _FIELDS[kind]
        if extra:
            raise Unsupported(f"{where}: field(s) {sorted(extra)} of a {kind} state are not supported")
        state = State(name, kind, spec, spec.get("Next"), bool(spec.get("End")), _optional_path(spec, "InputPath"),
                      _optional_path(spec, "OutputPath"), _optional_path(spec, "ResultPath"))
        if kind not in ("Choice", "Succeed", "Fail") and (state.next is None) == (not state.end):
            raise Unsupported(f"{where}: a {kind} state needs exactly one of Next and End")
        selector = spec.get("ItemSelector", spec.get("Parameters"))
        if selector is not None:
            state.parameters = Template(selector, where)
        if "ResultSelector" in spec:
            state.result_selector = Template(spec["ResultSelector"], where)
        state.needs_context = any(t is not None and t.uses_context for t in (state.parameters, state.result_selector))
        state.retriers = [Retrier.parse(r, where) for r in spec.get("Retry", [])]
        state.catchers = [Catcher.parse(c, where) for c in spec.get("Catch", [])]
        if kind == "Task" and not _FUNCTION_ARN.match(str(spec.get("Resource", ""))):
            raise Unsupported(f"{where}: only a Lambda function's ARN is supported as a Task's Resource, "
                              f"not {spec.get('Resource')!r}")
        if kind == "Choice":
            state.rules = [Rule(rule, where) for rule in spec["Choices"]]
            if any(rule.next is None for rule in state.rules):
                raise Unsupported(f"{where}: every Choice rule needs a Next")
        if kind == "Map":
            state.items_path = _optional_path(spec, "ItemsPath")
            state.processor = Machine(spec.get("ItemProcessor") or spec["Iterator"], f"{where}/")
        return state


class _Scope:
    """Whether an execution, or a Map's iterations after one failed, should stop at its next state."""

    def __init__(self, parent: _Scope | None = None) -> None:
        self.parent = parent
        self.flag = threading.Event()

    def stopped(self) -> bool:
        return self.flag.is_set() or (self.parent is not None and self.parent.stopped())


class Execution:
    """One run of a machine: ``run()`` (or ``spawn``-ed) sets ``status`` to SUCCEEDED with ``output``, or to
    FAILED with ``error`` and ``cause``, then ``done``."""

    def __init__(self, machine: Machine, execution_input: Any, *, invoke: Invoke, spawn: Spawn,
                 name: str = "", arn: str = "") -> None:
        self.machine, self.input = machine, execution_input
        self._invoke_fn, self._spawn = invoke, spawn
        self.status = "RUNNING"
        self.output: Any = None
        self.error: str | None = None
        self.cause: str | None = None
        self.done = threading.Event()
        self._entries = 0
        self._scope = _Scope()
        self._ends = time.monotonic() + machine.timeout_s if machine.timeout_s is not None else None
        started = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self._context = {"Execution": {"Id": arn, "Name": name, "Input": execution_input, "StartTime": started}}

    def run(self) -> Execution:
        try:
            self.output = self._run(self.machine, self.input, self._context, self._scope)
            self.status = "SUCCEEDED"
        except StatesError as exc:
            self.status, self.error, self.cause = "FAILED", exc.error, exc.cause
        except Exception as exc:  # noqa: BLE001 - a bug here fails the execution, as the service would
            self.status, self.error, self.cause = "FAILED", "States.Runtime", f"{type(exc).__name__}: {exc}"
        finally:
            self.done.set()
        return self

    def _run(self, machine: Machine, data: Any, context: dict, scope: _Scope) -> Any:
        name = machine.start
        while True:
            if scope.stopped():
                raise StatesError("States.Aborted", "the execution or its Map stopped")
            self._entries += 1
            if self._entries > MAX_STATES:
                raise StatesError("States.Runtime", f"more than {MAX_STATES} states entered")
            if self._ends is not None and time.monotonic() > self._ends:
                raise StatesError("States.Timeout", "the execution ran past the definition's TimeoutSeconds")
            state = machine.states[name]
            ctx = {**context, "State": {"Name": name}} if state.needs_context else context
            if state.kind == "Succeed":
                return _select(state.output_path, _select(state.input_path, data))
            if state.kind == "Fail":
                raise StatesError(state.spec.get("Error", "States.Fail"), state.spec.get("Cause", ""))
            if state.kind == "Choice":
                effective = _select(state.input_path, data)
                chosen = next((r.next for r in state.rules if r.matches(effective)), state.spec.get("Default"))
                if chosen is None:
                    raise StatesError("States.NoChoiceMatched", f"no Choice rule of {state.name} matched")
                name, data = chosen, _select(state.output_path, effective)
                continue
            try:
                data = self._with_retries(state, data, ctx, scope)
            except StatesError as exc:
                catcher = next((c for c in state.catchers if error_matches(c.errors, exc.error)), None)
                if catcher is None or exc.error == "States.Runtime":  # AWS: Runtime always fails the execution
                    raise
                data = _place(catcher.result_path, data, {"Error": exc.error, "Cause": exc.cause})
                name = catcher.next
                continue
            if state.end:
                return data
            name = state.next  # type: ignore[assignment]

    def _with_retries(self, state: State, data: Any, ctx: dict, scope: _Scope) -> Any:
        attempts = [0] * len(state.retriers)
        while True:
            try:
                return self._once(state, data, ctx, scope)
            except StatesError as exc:
                if exc.error == "States.Runtime" or scope.stopped():
                    raise
                index = next((i for i, r in enumerate(state.retriers) if error_matches(r.errors, exc.error)), None)
                if index is None or attempts[index] >= state.retriers[index].max_attempts:
                    raise
                time.sleep(state.retriers[index].delay_s(attempts[index]))
                attempts[index] += 1

    def _once(self, state: State, data: Any, ctx: dict, scope: _Scope) -> Any:
        effective = _select(state.input_path, data)
        if state.kind == "Pass":
            result = json.loads(json.dumps(state.spec["Result"])) if "Result" in state.spec else \
                state.parameters.render(effective, ctx) if state.parameters else effective
        elif state.kind == "Task":
            payload = state.parameters.render(effective, ctx) if state.parameters else effective
            result = self._task(state, payload)
        else:
            result = self._map(state, effective, ctx, scope)
        if state.result_selector is not None:
            result = state.result_selector.render(result, ctx)
        return _select(state.output_path, _place(state.result_path, data, result))

    def _task(self, state: State, payload: Any) -> Any:
        box: dict[str, Any] = {}
        finished = threading.Event()
        function = state.spec["Resource"]

        def work() -> None:
            try:
                ok, result = self._invoke_fn(function, json.loads(json.dumps(payload)))
                box["result"] = (ok, json.loads(json.dumps(result)))
            except BaseException as exc:  # noqa: BLE001 - reported as the task's error below
                box["raised"] = exc
            finally:
                finished.set()

        self._spawn(work)
        timeout_s = state.spec.get("TimeoutSeconds")  # none: as long as it takes
        if self._ends is not None:
            remaining = self._ends - time.monotonic()
            timeout_s = max(0.0, remaining if timeout_s is None else min(timeout_s, remaining))
        if not finished.wait(timeout_s):
            raise StatesError("States.Timeout", f"{state.name} ran past its TimeoutSeconds")
        if "raised" in box:
            raise StatesError("Lambda.Unknown", f"the local invoke of {function} failed: {box['raised']!r}"[:2000])
        ok, result = box["result"]
        if not ok:
            name = result.get("errorType") if isinstance(result, dict) else None
            raise StatesError(str(name or "Exception"), json.dumps(result, separators=(",", ":")))
        return result

    def _map(self, state: State, effective: Any, ctx: dict, scope: _Scope) -> list:
        items = _select(state.items_path, effective)
        if not isinstance(items, list):
            raise StatesError("States.Runtime", f"{state.name}: ItemsPath does not name an array")
        assert state.processor is not None
        results: list[Any] = [None] * len(items)
        failures: list[StatesError] = []
        inner = _Scope(scope)
        limit = int(state.spec.get("MaxConcurrency", 0) or 0)
        slots = threading.Semaphore(limit) if limit > 0 else None
        left = [len(items)]
        lock = threading.Lock()
        finished = threading.Event()
        if not items:
            return results

        def iterate(index: int, item: Any) -> None:
            try:
                item_ctx = {**ctx, "Map": {"Item": {"Index": index, "Value": item}}}
                item_input = state.parameters.render(effective, item_ctx) if state.parameters else item
                results[index] = self._run(state.processor, item_input, ctx, inner)  # type: ignore[arg-type]
            except StatesError as exc:
                with lock:
                    failures.append(exc)
                inner.flag.set()
            except Exception as exc:  # noqa: BLE001 - a bug fails the Map, as the execution's would
                with lock:
                    failures.append(StatesError("States.Runtime", f"{type(exc).__name__}: {exc}"))
                inner.flag.set()
            finally:
                if slots is not None:
                    slots.release()
                with lock:
                    left[0] -= 1
                    if left[0] == 0:
                        finished.set()

        for index, item in enumerate(items):
            if slots is not None:
                slots.acquire()
            self._spawn(lambda index=index, item=item: iterate(index, item))  # type: ignore[misc]
        finished.wait()
        if failures:
            raise next((f for f in failures if f.error != "States.Aborted"), failures[0])
        return results
