"""switchboard:ui: the page of recent requests (GET /ui) becomes a method of the API, answered by the router
from the route table like every other route; off by default (tests/infra/test_resources.py lists the
default methods), and only with bearer keys, which the page sends."""

from __future__ import annotations

from pathlib import Path

import pytest
from cdk_nag import AwsSolutionsChecks

import app as cdk_app
from infra.config import ConfigError
from switchboard.http.routes import ROUTES
from tests.infra.support import PLACEHOLDER_LAYERS

PAGES = [r for r in ROUTES if r.page]


def _methods(template: dict) -> dict[tuple[str, str], dict]:
    resources = template["Resources"]

    def path(ref: dict) -> str:
        if "Ref" not in ref:
            return ""
        props = resources[ref["Ref"]]["Properties"]
        return f"{path(props['ParentId'])}/{props['PathPart']}"

    return {(r["Properties"]["HttpMethod"], path(r["Properties"]["ResourceId"])): r["Properties"]
            for r in resources.values() if r["Type"] == "AWS::ApiGateway::Method"}


def test_the_ui_option_adds_the_page_s_route_to_the_api_proxied_to_the_router(tmp_path: Path) -> None:
    the_app, stack = cdk_app.build_app(context={**PLACEHOLDER_LAYERS, "switchboard:ui": True,
                                                "aws:cdk:disable-asset-staging": True}, outdir=str(tmp_path / "out"))
    report = AwsSolutionsChecks().validate_scope(the_app)
    assert report.success, [v.rule_name for v in report.violations]
    artifact = the_app.synth().get_stack_by_name(stack.stack_name)
    methods = _methods(artifact.template)
    assert PAGES and len(methods) == len(ROUTES)
    for page in PAGES:
        props = methods[(page.method, page.path)]
        # a browser loads it without a key (the page holds no data); its script sends the bearer key
        assert props["AuthorizationType"] == "NONE" and props.get("ApiKeyRequired") in (None, False)
        assert props["Integration"]["Type"] == "AWS_PROXY" and "RouterFn" in str(props["Integration"]["Uri"])
    from cfnlint.api import lint_file

    matches = lint_file(Path(artifact.template_full_path))
    assert [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches] == []


def test_without_the_option_no_page_is_deployed(synth) -> None:
    methods = _methods(synth.template)
    assert not [p for p in PAGES if (p.method, p.path) in methods]
    assert len(methods) == len(ROUTES) - len(PAGES)


@pytest.mark.parametrize("auth", ["iam", "api_key"])
def test_the_page_needs_bearer_keys(auth: str) -> None:
    with pytest.raises(ConfigError, match="ui needs apiAuth"):
        cdk_app.build_app(context={**PLACEHOLDER_LAYERS, "switchboard:ui": True, "switchboard:apiAuth": auth})
