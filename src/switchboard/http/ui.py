"""``GET /ui``: one self-contained page of the recent requests (``static/ui.html``: inline CSS and vanilla
JavaScript, no build step, nothing fetched but this API's own JSON).

The page is served with a Content-Security-Policy that allows its own inline ``<script>`` and ``<style>``
by their sha256 hashes and nothing else: no other script or style, no inline event handler, no ``eval``,
no image, frame, form or font; ``connect-src 'self'`` lets its script call the API that served it. Trace
text (prompts, answers, judges' details) is untrusted; the page only ever sets it as text
(``textContent``), never as markup.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources
from typing import Any

from switchboard.http.endpoints import HttpRequest, HttpResponse

_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@cache
def page() -> tuple[str, str]:
    """The page and its Content-Security-Policy (the hashes of its inline script and style)."""
    html = resources.files("switchboard.http").joinpath("static/ui.html").read_text(encoding="utf-8")
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for tag, body in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
        hashes[tag].append(f"'sha256-{digest}'")
    policy = "; ".join([
        "default-src 'none'",
        f"script-src {' '.join(hashes['script'])}",
        f"style-src {' '.join(hashes['style'])}",
        "connect-src 'self'",
        "img-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ])
    return html, policy


def serve(request: HttpRequest, services: Any) -> HttpResponse:
    """The page, for a browser: no key is needed to load it (it holds no data; its script sends the key
    the user types to the API, as every other client does)."""
    html, policy = page()
    return HttpResponse(200, html, "text/html; charset=utf-8", {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
    })
