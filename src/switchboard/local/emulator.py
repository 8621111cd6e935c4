"""The local AWS emulator: moto's server on 127.0.0.1 for DynamoDB and Step Functions, with the state
machine's Lambda tasks dispatched to the project's handlers in this process.

Why moto: it runs in-process with no Docker and no Java, starts in well under a second, and its Step
Functions backend executes real Amazon States Language (an interpreter ported from LocalStack's) when
``stepfunctions.execute_state_machine`` is on. Three explicit adapters make it usable as a local stack:

1. ``LambdaDispatcher`` replaces the invoke of moto's *simple* Lambda backend (the one used when
   ``lambda.use_docker`` is off, which otherwise echoes payloads) with a call to our handler, and reports
   a raised exception the way Lambda does (``X-Amz-Function-Error: Unhandled`` and an
   ``{"errorType", "errorMessage"}`` payload), so the state machine's Retry/Catch see the real error names.
2. moto keeps every execution in a list it scans for DescribeExecution; concurrent StartExecution and
   DescribeExecution calls (several clients at once) are serialised by one lock here, and finished
   executions beyond the last ``KEEP_EXECUTIONS`` are dropped (every ``TRIM_EVERY`` starts) so a long-running server does not grow.
   (moto >= 5.1 deep-copies a state machine without its executions at StartExecution, so the copy no
   longer needs help; an earlier workaround that emptied the list during the copy raced with concurrent
   requests and made them fail with ExecutionDoesNotExist.)
3. Inside this process nothing goes through that HTTP server: the interpreter's Lambda tasks, the router's
   executions and the handlers' SDK calls are served in the calling thread (``local.inprocess``); clients
   of other processes (``switchboard keys --endpoint-url``, an external router) use the HTTP endpoint.

The endpoint is loopback only; nothing here reaches the network.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[dict, Any], Any]
REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass
class LocalLambdaContext:
    """The subset of the Lambda context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


class LambdaDispatcher:
    """Function name -> in-process handler. Records every invocation (name, ok/error) for tests."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self.invocations: deque[tuple[str, str]] = deque(maxlen=10_000)  # bounded for a long-running server
        self._lock = threading.Lock()

    def register(self, function_name: str, handler: Handler) -> None:
        self._handlers[function_name] = handler

    @property
    def names(self) -> list[str]:
        return sorted(self._handlers)

    def invoke(self, function_name: str, payload: dict) -> tuple[bool, Any]:
        """Call the handler. Returns (ok, result); on an exception result is Lambda's error payload."""
        name = function_name.split(":function:")[-1].split(":")[0]
        handler = self._handlers.get(name)
        if handler is None:
            return False, {"errorType": "ResourceNotFoundException",
                           "errorMessage": f"no local handler for function '{name}'"}
        try:
            result = handler(payload, LocalLambdaContext(function_name=name))
            with self._lock:
                self.invocations.append((name, "ok"))
            return True, result
        except Exception as exc:  # noqa: BLE001 - reported to the state machine like Lambda does
            with self._lock:
                self.invocations.append((name, type(exc).__name__))
            log.debug("local lambda %s raised %s", name, "".join(traceback.format_exception(exc))[-2000:])
            return False, {"errorType": type(exc).__name__, "errorMessage": str(exc)[:4000]}


_ACTIVE: LambdaDispatcher | None = None
_PATCHED = False
_EXECUTIONS_LOCK = threading.Lock()
KEEP_EXECUTIONS = 200  # finished executions kept for inspection
TRIM_EVERY = 50  # executions started between two trims of the list (and of moto's list of threads)


def _install_patches() -> None:
    global _PATCHED
    if _PATCHED:
        return
    from moto.awslambda_simple import models as simple_lambda
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser import models as sfn_parser

    from switchboard.local.task_threads import install_task_threads, prune_finished_threads

    default_user_config["lambda"]["use_docker"] = False
    default_user_config["stepfunctions"]["execute_state_machine"] = True

    def invoke(self, function_name, qualifier, body, headers, response_headers):  # noqa: ANN001
        if _ACTIVE is None:
            raise RuntimeError("no local Lambda dispatcher is active")
        payload = json.loads(body) if body else {}
        ok, result = _ACTIVE.invoke(function_name, payload)
        if not ok:
            response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(result).encode("utf-8")

    simple_lambda.LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]

    backend_cls = sfn_parser.StepFunctionsParserBackend
    original_start = backend_cls.start_execution
    original_describe = backend_cls.describe_execution

    def start_execution(self, state_machine_arn, *args, **kwargs):  # noqa: ANN001, ANN202
        with _EXECUTIONS_LOCK:
            execution = original_start(self, state_machine_arn, *args, **kwargs)
            machine = self.describe_state_machine(state_machine_arn)
            if len(machine.executions) > KEEP_EXECUTIONS + TRIM_EVERY:  # trimmed in batches: a scan per batch
                finished = [e for e in machine.executions if e.status != "RUNNING"]
                drop = {id(e) for e in finished[:-KEEP_EXECUTIONS]}
                machine.executions[:] = [e for e in machine.executions if id(e) not in drop]
                prune_finished_threads()
            return execution

    def describe_execution(self, execution_arn):  # noqa: ANN001, ANN202
        with _EXECUTIONS_LOCK:
            return original_describe(self, execution_arn)

    backend_cls.start_execution = start_execution  # type: ignore[method-assign]
    backend_cls.describe_execution = describe_execution  # type: ignore[method-assign]

    # No loopback HTTP inside the process for the interpreter's Lambda tasks; one parse of the definition and of
    # each JSONPath; the state's data copied as the JSON it is
    from switchboard.local.inprocess import (
        install_backend_cache,
        install_direct_lambda,
        install_json_copies,
        install_jsonpath_cache,
        install_lean_history,
        install_program_cache,
    )

    install_direct_lambda(_dispatch)
    install_program_cache()
    install_jsonpath_cache()
    install_json_copies()
    install_lean_history()
    install_backend_cache()
    install_task_threads()
    _PATCHED = True


def _dispatch(function_name: str, payload: dict) -> tuple[bool, Any]:
    if _ACTIVE is None:
        raise RuntimeError("no local Lambda dispatcher is active")
    return _ACTIVE.invoke(function_name, payload)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalAws:
    """moto's server on 127.0.0.1:<port> with the Lambda dispatcher active.

    ``client(service)`` gives boto3 clients bound to it; ``environment()`` gives the variables that
    point unchanged handlers (boto3 default clients) at it.
    """

    def __init__(self, dispatcher: LambdaDispatcher, port: int | None = None) -> None:
        self.dispatcher = dispatcher
        self.port = port or free_port()
        self._server: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalAws:
        global _ACTIVE
        _install_patches()
        from switchboard.local.journal import install_patches as atomic_dynamodb_writes

        atomic_dynamodb_writes()
        from moto.server import ThreadedMotoServer

        # moto's ASL interpreter invokes Lambda through a boto3 client aimed at localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        # Its HTTP server logs every internal AWS call (hundreds per request) at INFO; keep them unless
        # the caller asked for them (switchboard local --verbose sets the level itself).
        werkzeug = logging.getLogger("werkzeug")
        if werkzeug.level == logging.NOTSET:
            werkzeug.setLevel(logging.WARNING)
        _ACTIVE = self.dispatcher
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        # moto keeps its resources in process-global backends that outlive a server: without a reset, a
        # stack started after another in the same process would see (and serve) the first one's tables.
        # A stack's state comes from its state directory alone.
        import httpx

        httpx.post(f"{self.endpoint}/moto-api/reset", timeout=30, trust_env=False).raise_for_status()  # no proxy
        # The handlers' own SDK calls (table reads and writes) are answered in their thread, without a socket
        from switchboard.local.direct_writes import serve_puts_in_process
        from switchboard.local.inprocess import serve_in_process

        serve_in_process(self.endpoint, self._server._server.app)
        serve_puts_in_process(self.endpoint)  # a trace's plain PutItem: straight to the backend
        return self

    def stop(self) -> None:
        global _ACTIVE
        if self._server is not None:
            from switchboard.local.direct_writes import serve_puts_in_process
            from switchboard.local.inprocess import serve_in_process

            serve_in_process(self.endpoint, None)
            serve_puts_in_process(None)
            # moto's server polls for a shutdown every 0.5 s; one request wakes it at once
            stopping = threading.Thread(target=self._server.stop, name="moto-stop", daemon=True)
            stopping.start()
            import httpx

            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{self.endpoint}/moto-api/data.json", timeout=1.0, trust_env=False)
            stopping.join(timeout=10)
            self._server = None
        if _ACTIVE is self.dispatcher:
            _ACTIVE = None

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL_DYNAMODB": self.endpoint,
            "AWS_ENDPOINT_URL_SFN": self.endpoint,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
        }

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id="local", aws_secret_access_key="local")
