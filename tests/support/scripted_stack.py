"""A local stack over a SCRIPTED FAKE pool: two models, ``fast`` (cheap) and ``strong``, served by a
loopback OpenAI-compatible server (``FakeOpenAIServer``) answering with ``reply``, behind the local HTTP
server. The agent-client, Responses API and conversation tests share it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from switchboard.http.server import LocalServer
from switchboard.local.emulator import free_port
from switchboard.local.stack import LocalStack, StackOptions
from tests.support.fake_openai_server import FakeOpenAIServer

KEY_ENV = "SB_FAKE_UPSTREAM_KEY"


@contextmanager
def scripted_stack(tmp: Path, reply: Callable, token_s: float = 0.0) -> Iterator[tuple[LocalStack, LocalServer]]:
    """A started stack and server whose catalogue is ``fast`` ($0.1) and ``strong`` ($1) on the fake."""
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ[KEY_ENV] = "sk-fake"
    with FakeOpenAIServer(reply=reply, token_s=token_s) as upstream:
        catalog = tmp / "catalog.json"
        catalog.write_text(json.dumps(upstream.catalog({"fast": 0.1, "strong": 1.0}, KEY_ENV, timeout_s=5.0)))
        local = LocalStack(StackOptions(catalog_path=catalog, state_dir=None, deadline_s=20)).start()
        server = LocalServer(local, port=free_port()).start_background()
        try:
            yield local, server
        finally:
            server.stop()
            local.stop()
