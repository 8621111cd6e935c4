"""What an upstream said, fit for a log line: credentials redacted, length bounded.

Provider errors carry only a category and a status to callers and traces; the upstream's body can still
help an operator, so adapters log it - after this. An upstream that echoes the request's Authorization
header, or a key in an error message, must not put the key into CloudWatch either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_LOGGED_CHARS = 500
_PATTERNS = (
    re.compile(r"(?i)(authorization|x-api-key|api[-_]?key|apikey|token|secret|password)(\"?\s*[:=]\s*\"?)"
               r"(bearer\s+)?[^\s\"',;}]+"),
    re.compile(r"(?i)bearer\s+[a-z0-9._~+/=-]{8,}"),
    re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_-]{8,}"),  # OpenAI-style keys
    re.compile(r"\bsk-ant-[A-Za-z0-9_-]{8,}"),  # Anthropic keys
    re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"),  # AWS access key ids
    re.compile(r"\b[A-Za-z0-9_-]{32,}\b"),  # any long opaque token
)


def redact(text: str | None, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every known secret and anything shaped like a credential replaced by ``***``."""
    if not text:
        return ""
    out = str(text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            out = out.replace(secret, "***")
    for pattern in _PATTERNS:
        if pattern.groups >= 2:
            out = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}***", out)
        else:
            out = pattern.sub("***", out)
    return out[:MAX_LOGGED_CHARS]
