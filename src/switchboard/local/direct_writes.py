"""A plain PutItem of this process to the emulator, handed to moto's DynamoDB backend directly.

Every request ends with one PutItem (the record task's trace). In process it went through botocore's
request pipeline (serialise, sign, send), moto's WSGI application, Flask, moto's request parsing and its
response serialisation: about a quarter of the local stack's CPU per pinned request (docs/benchmarks.md,
"Overhead"). For a PutItem with no condition and no return values - a trace's write - botocore's
``before-call`` event lets the call be answered here: moto's own checks of the item (the handler's
``validate_put_*``) and its backend's ``put_item`` (which the journal wraps, so the write is as durable
as before), and the empty result PutItem returns. Anything else - a condition, ``ReturnValues``, another
table's endpoint, an error - takes the usual path, so errors keep their wire shape.
"""

from __future__ import annotations

import json
import os
from typing import Any

DIRECT_KEYS = {"TableName", "Item"}  # a PutItem of only these is answered directly
_STATE: dict[str, Any] = {"endpoint": None}


class _Ok:
    """The HTTP response botocore's ``after-call`` handlers look at."""

    status_code = 200
    headers: dict[str, str] = {}


def _account(signer: Any) -> str:
    from moto.iam.models import get_account_id_from

    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    credentials = getattr(signer, "_credentials", None)
    return get_account_id_from(credentials.access_key if credentials is not None else "AKIAEXAMPLE")


def put_in_process(model: Any = None, params: dict | None = None, request_signer: Any = None,
                   **_: Any) -> tuple[Any, dict] | None:
    """botocore's ``before-call.dynamodb.PutItem``: the result of a plain PutItem to the running emulator,
    or None (the call goes on as usual)."""
    endpoint = _STATE["endpoint"]
    if endpoint is None or params is None or not str(params.get("url", "")).startswith(endpoint):
        return None
    try:
        body = json.loads(params.get("body") or b"{}")
    except ValueError:
        return None
    if set(body) != DIRECT_KEYS:
        return None
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.responses import (
        validate_put_has_empty_attrs,
        validate_put_has_empty_keys,
        validate_put_has_gsi_keys_set_to_none,
    )

    try:
        backend = dynamodb_backends[_account(request_signer)][request_signer.region_name]
        table = backend.get_table(body["TableName"])
        item = body["Item"]
        validate_put_has_empty_keys(item, table)
        validate_put_has_empty_attrs(item, table)
        validate_put_has_gsi_keys_set_to_none(item, table)
    except Exception:  # noqa: BLE001 - no such table, an invalid item...: the usual path answers with the error
        return None
    backend.put_item(body["TableName"], item, None, None)
    return _Ok(), {"ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0}}


def _before_call(**kwargs: Any) -> tuple[Any, dict] | None:
    return put_in_process(**kwargs)  # looked up at each call: registered once per process, by its id


def serve_puts_in_process(endpoint: str | None) -> None:
    """Answer this process's plain PutItems to ``endpoint`` directly (None: stop)."""
    import boto3

    _STATE["endpoint"] = endpoint
    session = boto3._get_default_session()  # noqa: SLF001 - the session boto3.client() uses
    session.events.register("before-call.dynamodb.PutItem", _before_call, unique_id="switchboard-local-direct-put")
