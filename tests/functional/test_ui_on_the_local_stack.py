"""The page of recent requests (GET /ui) and the trace list it reads (GET /v1/traces), on the local stack
(synthesised state machine, the handlers, the emulator's tables with the traces' index) in front of a fake
OpenAI-compatible upstream: the page is served, its script calls only routes of the API, and the list is
each caller's own newest traces."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from shutil import which

import httpx
import pytest

from switchboard.http.routes import find
from switchboard.http.server import LocalServer
from switchboard.local.emulator import free_port
from switchboard.local.stack import LocalStack, StackOptions
from tests.support.fake_openai_server import FakeOpenAIServer

KEY_ENV = "SB_FAKE_UPSTREAM_KEY"


def reply(body: dict) -> str:
    last = str((body.get("messages") or [{}])[-1].get("content", ""))
    return "VERDICT: CORRECT" if "<<<ANSWER" in last else "4"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    os.environ[KEY_ENV] = "sk-fake"
    tmp = tmp_path_factory.mktemp("ui")
    with FakeOpenAIServer(reply=reply, delay_s=0.0, drip_s=0.0) as upstream:
        catalog = tmp / "catalog.json"
        catalog.write_text(json.dumps(upstream.catalog({"fast": 0.1, "strong": 1.0}, KEY_ENV, timeout_s=5.0)))
        local = LocalStack(StackOptions(catalog_path=catalog, state_dir=tmp / "state", deadline_s=15)).start()
        http = LocalServer(local, port=free_port()).start_background()
        yield local, http
        http.stop()
        local.stop()


def _ask(url: str, content: str, headers: dict | None = None) -> str:
    response = httpx.post(f"{url}/v1/chat/completions", timeout=120, headers=headers or {},
                          json={"model": "auto", "max_tokens": 8, "messages": [{"role": "user", "content": content}]})
    assert response.status_code == 200, response.text
    return response.json()["switchboard"]["trace_id"]


def _script(html: str) -> str:
    found = re.search(r"<script>(.*?)</script>", html, re.DOTALL)
    assert found
    return found.group(1)


def test_the_page_is_served_and_calls_only_routes_of_the_api(server, tmp_path: Path):
    _, http = server
    response = httpx.get(f"{http.url}/ui", timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "script-src 'sha256-" in response.headers["content-security-policy"]
    script = _script(response.text)
    called = set(re.findall(r"[\"'](v1/[a-z_/]*)", script))
    assert {"v1/traces", "v1/models"} <= called
    for path in called:  # "v1/traces" and, with an id appended, "v1/traces/" + id
        probe = "/" + path + ("some-id" if path.endswith("/") else "")
        assert find("GET", probe) is not None, f"the page calls {probe}, which is no route"
    if which("node"):
        (tmp_path / "ui.js").write_text(script)
        checked = subprocess.run(["node", "--check", str(tmp_path / "ui.js")], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


def test_the_trace_list_is_the_newest_first_with_feedback_and_limited(server):
    _, http = server
    ids = [_ask(http.url, f"What is {n}+{n}?") for n in range(3)]
    assert httpx.post(f"{http.url}/v1/feedback", json={"trace_id": ids[0], "score": 1.0}, timeout=30).status_code == 200
    listed = httpx.get(f"{http.url}/v1/traces", timeout=30)
    assert listed.status_code == 200
    data = listed.json()["data"]
    assert [t["trace_id"] for t in data][:3] == ids[::-1]
    assert data[2]["feedback"][0]["score"] == 1.0
    assert data[0]["state"]["decision"]["action"] and data[0]["state"]["plan"]["tiers"]
    assert [t["trace_id"] for t in httpx.get(f"{http.url}/v1/traces?limit=2", timeout=30).json()["data"]] == ids[:0:-1]
    bad = httpx.get(f"{http.url}/v1/traces?limit=0", timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "limit"
    missing = httpx.get(f"{http.url}/v1/traces/no-such-trace", timeout=30)  # what the page shows as "not found"
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/json")


def test_a_key_lists_only_its_own_requests_traces(server):
    import boto3

    from switchboard import envvars as names
    from switchboard.adapters.stores.dynamo_keys import DynamoKeys
    from switchboard.service.api_keys import new_key

    local, http = server
    client = boto3.client("dynamodb", endpoint_url=local.environment["AWS_ENDPOINT_URL_DYNAMODB"],
                          region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
    secret, key = new_key("ui", None)
    DynamoKeys(local.environment[names.ENV_KEYS_TABLE], client=client).create(key)
    bearer = {"Authorization": f"Bearer {secret}"}
    mine = _ask(http.url, "What is 5+5?", bearer)
    anonymous = _ask(http.url, "What is 6+6?")
    keyed = [t["trace_id"] for t in httpx.get(f"{http.url}/v1/traces", headers=bearer, timeout=30).json()["data"]]
    assert keyed == [mine]
    unkeyed = [t["trace_id"] for t in httpx.get(f"{http.url}/v1/traces", timeout=30).json()["data"]]
    assert anonymous in unkeyed and mine not in unkeyed


def _chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    browser = which("chromium") or which("chromium-browser")
    assert browser
    return subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                           "--virtual-time-budget=10000", "--window-size=1400,1100", *args, url],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not (which("chromium") or which("chromium-browser")), reason="no headless Chromium here")
def test_headless_chromium_runs_the_page_under_its_csp_and_shows_the_requests(server, tmp_path: Path):
    """Chromium enforces the CSP: had the script's hash not matched, nothing below would be drawn. A
    screenshot is kept beside the test's tmp_path."""
    _, http = server
    ids = [_ask(http.url, q) for q in ("What is 7+7?", "Tell me a <b>story</b>", "What is 8+8?")]
    assert httpx.post(f"{http.url}/v1/feedback", json={"trace_id": ids[1], "score": 0.0}, timeout=30).status_code == 200
    page = _chromium(f"{http.url}/ui#trace={ids[1]}", tmp_path / "profile", "--dump-dom")
    dom = page.stdout
    assert dom.count('class="row') >= 3, dom[-2000:]
    assert ids[1] in dom and "Tell me a &lt;b&gt;story&lt;/b&gt;" in dom and "<b>story" not in dom
    assert "would have cost" in dom and "requests with feedback" in dom
    assert "<svg" in dom and "<rect" in dom  # the request's timeline
    # a stored trace has no total (it is written before the response): the stages' span is shown instead
    assert "total -" not in dom and re.search(r"until recorded \d+(\.\d+)? m?s", dom), dom[-2000:]
    missing = _chromium(f"{http.url}/ui#trace=no-such-trace", tmp_path / "profile", "--dump-dom").stdout
    assert "Trace no-such-trace not found." in missing
    shot = tmp_path / "ui.png"
    _chromium(f"{http.url}/ui#trace={ids[1]}", tmp_path / "profile", f"--screenshot={shot}")
    assert shot.stat().st_size > 10_000
