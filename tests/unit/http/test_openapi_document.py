"""The OpenAPI document kept in the repository is the one the API serves, generated from its models."""

from __future__ import annotations

import json
from pathlib import Path

from switchboard.http.routes import document as openapi_document

DOC = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


def test_the_committed_document_is_the_generated_one():
    assert json.loads(DOC.read_text()) == openapi_document(), (
        "docs/openapi.json is stale: regenerate it with "
        "python -c 'import json; from switchboard.http.routes import document as d; "
        "print(json.dumps(d(), indent=1, sort_keys=True))' > docs/openapi.json")


def test_every_route_of_the_api_is_documented_with_its_error_statuses():
    doc = openapi_document()
    from switchboard.http.routes import ROUTES

    assert set(doc["paths"]) == {r.path for r in ROUTES if not r.page} == {
        "/v1/chat/completions", "/v1/messages", "/v1/responses", "/v1/responses/{response_id}", "/v1/route", "/v1/jobs/{job_id}", "/v1/traces", "/v1/traces/{trace_id}", "/v1/feedback",
        "/v1/models", "/health", "/openapi.json"}
    completions = doc["paths"]["/v1/chat/completions"]["post"]
    assert {"400", "402", "404", "413", "502", "504"} <= set(completions["responses"])
    schema = doc["components"]["schemas"]["ChatCompletionRequest"]
    assert schema["properties"]["max_tokens"]["anyOf"][0] == {"maximum": 4096, "minimum": 1, "type": "integer"}
