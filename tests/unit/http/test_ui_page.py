"""GET /ui: the page of recent requests comes from the route table as HTML under a strict CSP, and shows
trace text only as text."""

from __future__ import annotations

import base64
import hashlib
import re

from switchboard.http.endpoints import HttpRequest
from switchboard.http.routes import ROUTES, document, find
from switchboard.http.ui import page


def _served():
    found = find("GET", "/ui")
    assert found is not None
    route, params = found
    return route, route.serve(HttpRequest("GET", "/ui", params=params), services=None)  # type: ignore[arg-type]


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def test_the_route_serves_the_page_as_html_to_a_browser_without_a_key():
    route, response = _served()
    assert route.page and route.method == "GET"
    assert response.status == 200 and response.content_type == "text/html; charset=utf-8"
    assert response.body.startswith("<!doctype html>") and "<title>Switchboard" in response.body
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_csp_allows_exactly_the_page_s_own_inline_script_and_style():
    _, response = _served()
    policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    script = re.search(r"<script>(.*?)</script>", response.body, re.DOTALL)
    style = re.search(r"<style>(.*?)</style>", response.body, re.DOTALL)
    assert script and style
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == _sha256(script.group(1))  # no 'unsafe-inline', no 'unsafe-eval', no host
    assert policy["style-src"] == _sha256(style.group(1))
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'"
    # one inline script and one inline style, and nothing the hashes would not cover
    assert response.body.count("<script") == 1 and response.body.count("<style") == 1
    assert not re.search(r"\son[a-z]+\s*=", response.body), "an inline event handler would be blocked"
    assert not re.search(r"\sstyle\s*=", response.body), "an inline style attribute would be blocked"


def test_the_page_never_writes_markup_and_fetches_nothing_from_elsewhere():
    html, _ = page()
    script = re.search(r"<script>(.*?)</script>", html, re.DOTALL)
    assert script
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script.group(1), sink
    assert "textContent" in script.group(1)
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html), "the page loads nothing from the network"


def test_the_page_is_not_part_of_the_openapi_document_and_the_trace_list_is():
    paths = document()["paths"]
    assert "/ui" not in paths
    assert "get" in paths["/v1/traces"]
    assert {r.path for r in ROUTES if r.page} == {"/ui"}
