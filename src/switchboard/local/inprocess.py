"""The emulator's Step Functions executions without a network hop inside the process.

The local stack runs everything in one process, yet moto's ASL interpreter reaches the other services the way it
would from outside: each Lambda task through a new boto3 client aimed at moto's own HTTP server, and the router
started and polled each execution over HTTP as well. Per request that was a dozen loopback HTTP round trips,
each through botocore's request pipeline and a Flask dispatch, plus a parse of the state machine's definition
(ANTLR) at every start and of every JSONPath at every evaluation, and ``copy.deepcopy`` of the state's data
several times at every step. Here, seven adapters keep the same definition executing with the same semantics
without that work:

1. ``install_direct_lambda``: a Lambda task's invoke goes straight to the ``LambdaDispatcher``. The payload
   still crosses as JSON both ways (the handler gets a fresh document and the state machine gets the handler's
   result as Lambda would serialise it), and a raised exception still comes back as ``FunctionError:
   Unhandled`` with Lambda's ``{"errorType", "errorMessage"}`` payload, so Retry and Catch see the same error
   names.
2. ``install_program_cache``: the definition is parsed once per definition text; an execution keeps its
   state (retry counters, map runs, the data flowing between states) in its own environment, never in the
   parsed program, so executions share it.
3. ``install_jsonpath_cache``: each JSONPath is compiled once (a compiled path holds no data).
4. ``install_json_copies``: the interpreter's copies of that data (JSON) are made by a pickle round trip,
   in C; anything pickle refuses still goes to ``copy.deepcopy``.
5. ``install_lean_history``: history events carry no copy of the state's data or of a Lambda task's
   payload (only GetExecutionHistory would show them, which an Express workflow does not have).
6. ``install_backend_cache``: the emulator finds a host's backend once, not by matching every request's
   host against every service's URL patterns.
7. ``InProcessOrchestrator``: the router starts an execution on the emulator's backend in this process and
   waits for the execution's end (a condition the interpreter signals), instead of StartExecution and
   DescribeExecution polls over HTTP.

And the handlers' own SDK calls (a trace's write, a key's budget) are handed to the emulator's WSGI
application in the calling thread (``serve_in_process``): the same signed request and the same response,
without the socket, the server thread and the HTTP parsing; a plain PutItem goes to the emulator's backend
directly (``local.direct_writes``). Clients outside the process still reach the
emulator over HTTP.
"""

from __future__ import annotations

import copy
import functools
import importlib
import io
import json
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from switchboard.adapters.orchestration import DEADLINE_GRACE_S, execution_outcome, unfinished
from switchboard.domain.state import CascadeState
from switchboard.ports import ExecutionOutcome

_DONE = threading.Condition()  # notified whenever an execution of the emulator ends
_PATCHED: set[str] = set()


class _DirectLambda:
    """What the interpreter asks of a boto3 Lambda client (``invoke``), answered by the dispatcher."""

    def __init__(self, dispatch: Callable[[str, dict], tuple[bool, Any]], fallback: Callable[[], Any]) -> None:
        self._dispatch = dispatch
        self._fallback = fallback

    def invoke(self, **parameters: Any) -> dict:
        if parameters.get("InvocationType", "RequestResponse") != "RequestResponse":
            return self._fallback().invoke(**parameters)  # type: ignore[no-any-return]
        raw = parameters.get("Payload")
        payload = json.loads(raw) if raw else {}
        ok, result = self._dispatch(str(parameters["FunctionName"]), payload)
        response: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST",
                                    "Payload": io.BytesIO(json.dumps(result).encode("utf-8"))}
        if not ok:
            response["FunctionError"] = "Unhandled"
        return response


def install_direct_lambda(dispatch: Callable[[str, dict], tuple[bool, Any]]) -> None:
    """Route the interpreter's Lambda invokes to ``dispatch(function_name, payload) -> (ok, result)``
    (the first installation wins: the dispatcher it is given looks up the active one itself)."""
    if "lambda" in _PATCHED:
        return
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original = lambda_eval_utils.boto_client_for

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if service != "lambda":
            return original(region=region, service=service, state_credentials=state_credentials)
        return _DirectLambda(dispatch, lambda: original(region=region, service=service,
                                                        state_credentials=state_credentials))

    lambda_eval_utils.boto_client_for = boto_client_for  # type: ignore[assignment]
    _PATCHED.add("lambda")


def _touch_heap_keys(component: Any, seen: set[int]) -> None:
    """Give every component of a parsed program its heap key now: the interpreter makes them lazily, and two
    executions sharing the program must not race to make two."""
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    if id(component) in seen:
        return
    seen.add(id(component))
    if isinstance(component, EvalComponent):
        _ = component.heap_key
    children: Any = vars(component).values() if isinstance(component, Component) else \
        component.values() if isinstance(component, dict) else component
    for child in children:
        if isinstance(child, (Component, list, tuple, dict)):
            _touch_heap_keys(child, seen)


def install_program_cache() -> None:
    """Parse a state machine's definition once, not at every execution."""
    if "program" in _PATCHED:
        return
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend import execution, execution_worker

    programs: dict[str, Any] = {}
    lock = threading.Lock()

    def entrypoint(self: Any) -> Any:
        definition = self._evaluation_details.state_machine_details.definition
        with lock:
            program = programs.get(definition)
            if program is None:
                program = AmazonStateLanguageParser.parse(definition)[0]
                _touch_heap_keys(program, set())
                if len(programs) > 16:  # a test suite creates many machines; a server one
                    programs.clear()
                programs[definition] = program
        return program

    execution_worker.ExecutionWorker._get_evaluation_entrypoint = entrypoint  # type: ignore[method-assign]

    original_terminated = execution.BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        try:
            original_terminated(self)
        finally:
            with _DONE:
                _DONE.notify_all()

    execution.BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
    _PATCHED.add("program")


def install_jsonpath_cache() -> None:
    """Compile each JSONPath of the definition once: the interpreter compiles one at every evaluation, and
    jsonpath_ng builds a new parser (its grammar tables included) for every compilation."""
    if "jsonpath" in _PATCHED:
        return
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    json_path.parse = functools.lru_cache(maxsize=1024)(json_path.parse)  # type: ignore[assignment]
    result_path.parse = functools.lru_cache(maxsize=1024)(result_path.parse)  # type: ignore[assignment]
    _PATCHED.add("jsonpath")


_ATOMS = (str, int, float, bool, type(None))


def json_deepcopy(value: Any, memo: dict | None = None) -> Any:
    """``copy.deepcopy`` for the interpreter's data, several times faster: a dict or a list (a JSON document,
    possibly holding a timestamp) by a pickle round trip, which copies plain data as ``copy.deepcopy`` does
    (shared references stay shared) in C; a scalar as it is; anything else - or what pickle refuses - by
    ``copy.deepcopy`` itself."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict or kind is list:
        try:
            return pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))  # noqa: S301 - our own bytes
        except Exception:  # noqa: BLE001 - not plain data: the generic copy decides
            pass
    return copy.deepcopy(value, memo)


class _Copy:
    """What the interpreter's modules see as ``copy``: the module, with ``deepcopy`` for JSON documents."""

    deepcopy = staticmethod(json_deepcopy)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


# The interpreter's modules that copy the data flowing between states (a state's input, result and output,
# its history event's details, a Map's or Parallel's items) - each several times per state.
_COPYING_MODULES = (
    "asl.eval.states", "asl.eval.environment", "asl.eval.event.event_manager",
    "asl.component.common.string.string_expression", "asl.component.common.path.result_path",
    "asl.component.state.exec.execute_state", "asl.component.state.exec.state_map.state_map",
    "asl.component.state.exec.state_map.iteration.job", "asl.component.state.exec.state_parallel.state_parallel",
    "asl.component.state.exec.state_task.service.state_task_service",
    "asl.component.intrinsic.function.statesfunction.json_manipulation.json_merge",
)


def install_json_copies() -> None:
    """The interpreter deep-copies a state's data at every step (its input, result, output and history
    event); that data is JSON, which ``json_deepcopy`` copies without ``copy.deepcopy``'s generic dispatch
    and memo."""
    if "copy" in _PATCHED:
        return
    shim = _Copy()
    for name in _COPYING_MODULES:
        module = importlib.import_module(f"moto.stepfunctions.parser.{name}")
        if getattr(module, "copy", None) is copy:
            module.copy = shim  # type: ignore[attr-defined]
    _PATCHED.add("copy")


def install_backend_cache() -> None:
    """Find the emulator's backend for a host once: moto matches every request's host against every
    service's URL patterns (and lists its modules from disk) - the same answer for the same host."""
    if "backend" in _PATCHED:
        return
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    found: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in found:
            found[host] = original(self, host)
        return found[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]
    _PATCHED.add("backend")


def install_lean_history() -> None:
    """History events without the state's data: the interpreter copies and JSON-encodes the whole state
    into the entered and exited events of every state, and a Lambda task's payload and result into its
    scheduled and succeeded events, for GetExecutionHistory - which an Express workflow (the cascade's
    type) does not have, and which nothing local reads. The events themselves are kept, with "{}" for
    that data (the Lambda task's module encodes JSON for nothing else)."""
    if "history" in _PATCHED:
        return
    from moto.stepfunctions.parser.api import HistoryEventExecutionDataDetails
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField

    def entered(self: Any, env: Any) -> dict:
        return {"name": self.name, "input": "{}", "inputDetails": HistoryEventExecutionDataDetails(truncated=False)}

    def exited(self: Any, env: Any) -> dict:
        env.variable_store.reset_tracing()
        return {"name": self.name, "output": "{}", "outputDetails": HistoryEventExecutionDataDetails(truncated=False)}

    CommonStateField._get_state_entered_event_details = entered  # type: ignore[method-assign, assignment]
    CommonStateField._get_state_exited_event_details = exited  # type: ignore[method-assign, assignment]
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda

    state_task_lambda.to_json_str = lambda *_, **__: "{}"  # type: ignore[attr-defined]
    _PATCHED.add("history")


class _Body(io.BytesIO):
    """An HTTP response's body as botocore reads it: ``raw.stream()``, or ``raw.read()`` for a streamed
    output (an S3 object)."""

    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


_WSGI: dict[str, Any] = {}  # the emulator's endpoint -> its WSGI application, while it runs


def _send_in_process(request: Any, **_: Any) -> Any:
    """botocore's ``before-send``: a request to the running emulator is answered by its WSGI application in
    this thread (the same request, headers and signature, the same response); anything else goes out."""
    endpoint = next((e for e in list(_WSGI) if request.url.startswith(e + "/")), None)
    app = _WSGI.get(endpoint) if endpoint is not None else None
    if endpoint is None or app is None:
        return None
    from botocore.awsrequest import AWSResponse
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    parts = urlsplit(request.url)
    body = request.body.read() if hasattr(request.body, "read") else request.body
    headers = [(k, v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()
               if k.lower() != "content-length"]
    builder = EnvironBuilder(method=request.method, base_url=endpoint, path=parts.path, query_string=parts.query,
                             headers=headers, data=body or b"")
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    environ["REMOTE_ADDR"] = "127.0.0.1"
    app_iter, status, response_headers = run_wsgi_app(app, environ, buffered=True)
    try:
        data = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    return AWSResponse(request.url, int(status.split(" ", 1)[0]), dict(response_headers.items()), _Body(data))


def serve_in_process(endpoint: str, app: Any) -> None:
    """Answer the SDK calls of this process (boto3's default session: every handler's client) to
    ``endpoint`` with ``app`` in the calling thread, without a socket; ``app=None`` stops."""
    import boto3

    if app is None:
        _WSGI.pop(endpoint, None)
        return
    _WSGI[endpoint] = app
    session = boto3._get_default_session()  # noqa: SLF001 - the session boto3.client() uses
    session.events.register("before-send", _send_in_process, unique_id="switchboard-local-in-process")


class InProcessOrchestrator:
    """Runs the cascade on the emulator's Step Functions backend of this process: StartExecution (named by
    the request id, as the other orchestrators do), then a wait for the execution's end."""

    def __init__(self, state_machine_arn: str, timeout_s: float = 300.0) -> None:
        self.state_machine_arn = state_machine_arn
        self.timeout_s = timeout_s

    def _backend(self) -> Any:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        _, _, _, region, account, *_ = self.state_machine_arn.split(":")
        return stepfunctions_parser_backends[account][region]

    def _start(self, state: CascadeState) -> Any:
        return self._backend().start_execution(self.state_machine_arn, name=state.request_id,
                                               execution_input=state.model_dump_json())

    def start(self, state: CascadeState) -> None:
        self._start(state)

    def run(self, state: CascadeState) -> ExecutionOutcome:
        from moto.stepfunctions.parser.api import ExecutionStatus

        execution = self._start(state)
        give_up = time.monotonic() + self.timeout_s
        wait_until = state.deadline + DEADLINE_GRACE_S if state.deadline is not None else None
        with _DONE:
            while execution.exec_status == ExecutionStatus.RUNNING:
                left = give_up - time.monotonic()
                if wait_until is not None:
                    left = min(left, wait_until - time.time())
                if left <= 0:
                    break
                _DONE.wait(timeout=min(left, 1.0))
        status = execution.exec_status
        if status == ExecutionStatus.RUNNING:
            return unfinished(state, self.timeout_s)
        output = json.dumps(execution.output, separators=(",", ":")) if execution.output is not None else None
        return execution_outcome(str(status.value), output, execution.error, execution.cause)
