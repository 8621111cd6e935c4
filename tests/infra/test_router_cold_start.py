"""The router's cold-start options, on the synthesised template: switchboard:routerSnapStart and
switchboard:routerProvisionedConcurrency each publish a version of RouterFn behind an alias that API
Gateway invokes, each variant nag- and cfn-lint clean; the two together, a bad value, or SnapStart on a
runtime that does not support it fail the synth before anything is emitted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import aws_lambda as lambda_
from cdk_nag import AwsSolutionsChecks

import app as cdk_app
from infra import ids
from infra import switchboard_stack as stack_module
from infra.config import ROUTER_ALIAS, SNAPSTART_DOC, ConfigError, SwitchboardConfig
from infra.constructs.api import ROUTES
from tests.infra.support import PLACEHOLDER_LAYERS, Synth


def _synth(tmp_path_factory: pytest.TempPathFactory, context: dict[str, Any]) -> Synth:
    outdir = tmp_path_factory.mktemp("cold-start.cdk.out")
    the_app, stack = cdk_app.build_app(context={**PLACEHOLDER_LAYERS, "aws:cdk:disable-asset-staging": True,
                                                **context}, outdir=str(outdir))
    report = AwsSolutionsChecks().validate_scope(the_app)
    assert report.success, [v.rule_name for v in report.violations]
    artifact = the_app.synth().get_stack_by_name(stack.stack_name)  # the nag plugin fails it on a finding
    return Synth(template=artifact.template, template_path=Path(artifact.template_full_path), outdir=outdir,
                 stack_name=stack.stack_name)


@pytest.fixture(scope="module")
def snap_start(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synth(tmp_path_factory, {"switchboard:routerSnapStart": True})


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synth(tmp_path_factory, {"switchboard:routerProvisionedConcurrency": 3})


def _alias(synth: Synth) -> tuple[str, dict[str, Any]]:
    aliases = synth.resources("AWS::Lambda::Alias")
    assert len(aliases) == 1, sorted(aliases)
    return next(iter(aliases.items()))


def _assert_the_api_invokes(synth: Synth, target: dict[str, Any]) -> None:
    """Every API method's integration, and every permission API Gateway invokes with, names ``target``."""
    methods = synth.resources("AWS::ApiGateway::Method").values()
    assert len(methods) == len([r for r in ROUTES if not r.page])  # pages only with switchboard:ui
    for method in methods:
        uri = json.dumps(method["Properties"]["Integration"]["Uri"])
        assert json.dumps(target) in uri, uri
    permissions = [r["Properties"] for r in synth.resources("AWS::Lambda::Permission").values()
                   if r["Properties"]["Principal"] == "apigateway.amazonaws.com"]
    assert permissions and all(p["FunctionName"] == target for p in permissions)


def _assert_clean(synth: Synth) -> None:
    from cfnlint.api import lint_file

    matches = lint_file(synth.template_path)
    assert [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches] == []
    report = json.dumps(json.loads((synth.outdir / "validation-report.json").read_text()))
    assert "snapStartRequirePublish" not in report  # the version is published: the warning is answered


def _router_version(synth: Synth, alias: dict[str, Any]) -> str:
    versions = synth.resources("AWS::Lambda::Version")
    assert len(versions) == 1 and next(iter(versions.values()))["Properties"]["FunctionName"] == {"Ref": ids.ROUTER_FN}
    (version_id,) = versions
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    return version_id


def test_snap_start_publishes_a_version_with_snap_start_behind_the_alias_the_api_invokes(snap_start: Synth) -> None:
    router = snap_start.template["Resources"][ids.ROUTER_FN]["Properties"]
    assert router["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert router["Runtime"] == "python3.12" and router["Architectures"] == ["arm64"]
    alias_id, alias = _alias(snap_start)
    assert alias["Properties"]["Name"] == ROUTER_ALIAS and alias["Properties"]["FunctionName"] == {"Ref": ids.ROUTER_FN}
    assert "ProvisionedConcurrencyConfig" not in alias["Properties"]  # Lambda allows no SnapStart with it
    _router_version(snap_start, alias)
    _assert_the_api_invokes(snap_start, {"Ref": alias_id})
    others = [lid for lid, r in snap_start.resources("AWS::Lambda::Function").items()
              if lid != ids.ROUTER_FN and "SnapStart" in r["Properties"]]
    assert others == []  # the router only
    _assert_clean(snap_start)


def test_provisioned_concurrency_sits_on_the_alias_the_api_invokes(provisioned: Synth) -> None:
    router = provisioned.template["Resources"][ids.ROUTER_FN]["Properties"]
    assert "SnapStart" not in router
    alias_id, alias = _alias(provisioned)
    assert alias["Properties"]["Name"] == ROUTER_ALIAS
    assert alias["Properties"]["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 3}
    _router_version(provisioned, alias)
    _assert_the_api_invokes(provisioned, {"Ref": alias_id})
    _assert_clean(provisioned)


def test_by_default_the_api_invokes_the_function_itself_without_snap_start(synth: Synth) -> None:
    assert synth.resources("AWS::Lambda::Alias") == {} and synth.resources("AWS::Lambda::Version") == {}
    assert "SnapStart" not in synth.template["Resources"][ids.ROUTER_FN]["Properties"]
    _assert_the_api_invokes(synth, {"Fn::GetAtt": [ids.ROUTER_FN, "Arn"]})


def test_the_defaults_turn_both_off() -> None:
    config = SwitchboardConfig()
    assert (config.router_snap_start, config.router_provisioned_concurrency) == (False, 0)
    assert not config.publishes_router_version


def test_snap_start_with_provisioned_concurrency_is_refused_naming_both_keys_and_the_constraint() -> None:
    with pytest.raises(ConfigError) as raised:
        cdk_app.build_app(context={**PLACEHOLDER_LAYERS, "switchboard:routerSnapStart": True,
                                   "switchboard:routerProvisionedConcurrency": 2})
    message = str(raised.value)
    assert "switchboard:routerSnapStart" in message and "switchboard:routerProvisionedConcurrency=2" in message
    assert "does not support provisioned concurrency" in message and SNAPSTART_DOC in message


@pytest.mark.parametrize(("context", "key"), [
    ({"switchboard:routerProvisionedConcurrency": -1}, "switchboard:routerProvisionedConcurrency"),
    ({"switchboard:routerProvisionedConcurrency": 1001}, "switchboard:routerProvisionedConcurrency"),
    ({"switchboard:routerProvisionedConcurrency": "many"}, "switchboard:routerProvisionedConcurrency"),
    ({"switchboard:routerSnapStart": "sometimes"}, "switchboard:routerSnapStart"),
])
def test_a_bad_value_fails_before_any_construct(context: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        cdk_app.build_app(context=context)


def test_cli_style_values_are_accepted() -> None:
    only_pc = SwitchboardConfig.from_mapping({"switchboard:routerProvisionedConcurrency": "4"})
    assert only_pc.router_provisioned_concurrency == 4 and only_pc.publishes_router_version
    only_snap = SwitchboardConfig.from_mapping({"switchboard:routerSnapStart": "true"})
    assert only_snap.router_snap_start and only_snap.publishes_router_version


def test_snap_start_on_a_runtime_without_it_is_refused_naming_the_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not lambda_.Runtime.PYTHON_3_11.supports_snap_start
    monkeypatch.setattr(stack_module, "RUNTIME", lambda_.Runtime.PYTHON_3_11)
    with pytest.raises(ConfigError, match=r"routerSnapStart: .*python3\.11 \(Python needs python3\.12 or later"):
        cdk_app.build_app(context={**PLACEHOLDER_LAYERS, "switchboard:routerSnapStart": True,
                                   "aws:cdk:disable-asset-staging": True})


def test_snap_start_on_x86_64_with_streaming_streams_through_the_alias(tmp_path_factory: pytest.TempPathFactory
                                                                      ) -> None:
    """SnapStart for Python runs on either architecture, and the streamed router (Lambda Web Adapter,
    InvokeWithResponseStream) is invoked through the alias as the buffered one is."""
    synth = _synth(tmp_path_factory, {"switchboard:routerSnapStart": True, "switchboard:architecture": "x86_64",
                                      "switchboard:streaming": True})
    router = synth.template["Resources"][ids.ROUTER_FN]["Properties"]
    assert router["SnapStart"] == {"ApplyOn": "PublishedVersions"} and router["Architectures"] == ["x86_64"]
    alias_id, _ = _alias(synth)
    _assert_the_api_invokes(synth, {"Ref": alias_id})
    for method in synth.resources("AWS::ApiGateway::Method").values():
        assert "response-streaming-invocations" in json.dumps(method["Properties"]["Integration"]["Uri"])
    _assert_clean(synth)
