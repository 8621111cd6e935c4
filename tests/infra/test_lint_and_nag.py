"""The synthesised template is cfn-lint clean, and cdk-nag (AwsSolutions) findings are all acknowledged,
one by one, each with a reason, and no acknowledgement is stale."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_sns as sns
from cdk_nag import AwsSolutionsChecks

import app as cdk_app
from infra import nag
from infra.constructs.api import ROUTES
from switchboard import envvars as names
from tests.infra.support import PLACEHOLDER_LAYERS, Synth

API_ROUTES = [r for r in ROUTES if not r.page]  # pages are deployed with switchboard:ui only (test_ui_option.py)


def test_template_is_cfn_lint_clean(synth: Synth) -> None:
    from cfnlint.api import lint_file

    matches = lint_file(Path(synth.template_path))
    assert [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches] == []


def test_synth_through_the_app_entry_fails_on_an_unacknowledged_nag_finding(tmp_path: Path) -> None:
    the_app, stack = cdk_app.build_app(context={**PLACEHOLDER_LAYERS, "aws:cdk:disable-asset-staging": True}, outdir=str(tmp_path))
    sns.Topic(stack, "Unencrypted")  # AwsSolutions-SNS2/SNS3
    with pytest.raises(Exception, match=r"ValidationFailed[\s\S]*AwsSolutions-SNS"):
        the_app.synth()


class _RecordingValidations:
    """Stands in for aws_cdk.Validations: records acknowledgements instead of applying them."""

    recorded: list[tuple[str, str, str]] = []

    def __init__(self, construct) -> None:  # noqa: ANN001 - any construct
        self.path = construct.node.path

    @classmethod
    def of(cls, construct) -> _RecordingValidations:  # noqa: ANN001
        return cls(construct)

    def acknowledge(self, *acks) -> None:  # noqa: ANN002
        self.recorded.extend((self.path, a.id, a.reason) for a in acks)


def test_every_finding_is_acknowledged_and_every_acknowledgement_is_needed(monkeypatch: pytest.MonkeyPatch
                                                                            ) -> None:
    _RecordingValidations.recorded = []
    monkeypatch.setattr(nag, "Validations", _RecordingValidations)
    the_app, _ = cdk_app.build_app(context={**PLACEHOLDER_LAYERS, "aws:cdk:disable-asset-staging": True})
    violations = AwsSolutionsChecks().validate_scope(the_app).violations
    findings = {(v.rule_name, r.construct_path) for v in violations for r in v.violating_resources}
    acks = _RecordingValidations.recorded
    assert acks, "no acknowledgements were recorded: is infra.nag.acknowledge still used?"

    def covered(rule: str, path: str) -> bool:
        return any(rule == ack_id and (path == ack_path or path.startswith(ack_path + "/"))
                   for ack_path, ack_id, _ in acks)

    assert sorted(f for f in findings if not covered(*f)) == []
    stale = [(p, i) for p, i, _ in acks if not any(rule == i and (path == p or path.startswith(p + "/"))
                                                     for rule, path in findings)]
    assert stale == []
    assert all(len(reason) >= 60 for _, _, reason in acks), "every acknowledgement needs a real reason"
    assert all("[" in i for _, i, _ in acks if i.startswith(("AwsSolutions-IAM4", "AwsSolutions-IAM5"))), \
        "wildcard and managed-policy findings must be acknowledged one by one"


def test_api_gateway_key_variant_is_nag_clean_and_needs_a_key_on_every_route() -> None:
    the_app, stack = cdk_app.build_app(context={**PLACEHOLDER_LAYERS, "switchboard:apiAuth": "api_key",
                                                "aws:cdk:disable-asset-staging": True})
    report = AwsSolutionsChecks().validate_scope(the_app)
    assert report.success, [v.rule_name for v in report.violations]
    methods = [c for c in stack.node.find_all() if isinstance(c, apigw.CfnMethod)]
    assert len(methods) == len(API_ROUTES) and all(m.api_key_required for m in methods)
    assert len([c for c in stack.node.find_all() if isinstance(c, apigw.CfnUsagePlan)]) == 1
    template = the_app.synth().get_stack_by_name(stack.stack_name).template
    router_env = template["Resources"]["RouterFn"]["Properties"]["Environment"]["Variables"]
    assert router_env[names.ENV_REQUIRE_KEYS] == "false"


def test_iam_authorisation_variant_is_nag_clean_and_needs_no_api_key() -> None:
    the_app, stack = cdk_app.build_app(context={**PLACEHOLDER_LAYERS, "switchboard:apiAuth": "iam",
                                                "aws:cdk:disable-asset-staging": True})
    report = AwsSolutionsChecks().validate_scope(the_app)
    assert report.success, [v.rule_name for v in report.violations]
    methods = [c for c in stack.node.find_all() if isinstance(c, apigw.CfnMethod)]
    assert len(methods) == len(API_ROUTES)
    assert all(m.authorization_type == "AWS_IAM" and not m.api_key_required for m in methods)
    assert not [c for c in stack.node.find_all() if isinstance(c, apigw.CfnApiKey)]


def test_pinned_bedrock_models_scope_the_policy_and_stay_nag_clean() -> None:
    ids = ["amazon.nova-micro-v1:0", "us.anthropic.claude-3-5-haiku-20241022-v1:0"]
    the_app, stack = cdk_app.build_app(context={**PLACEHOLDER_LAYERS, "switchboard:bedrockModelIds": ids,
                                                "aws:cdk:disable-asset-staging": True})
    report = AwsSolutionsChecks().validate_scope(the_app)
    assert report.success, [v.rule_name for v in report.violations]
    policy = stack.resolve(stack.cascade.tier.function.role.node.find_child("DefaultPolicy")
                           .node.default_child.policy_document)
    bedrock = [s for s in policy["Statement"] if s["Action"] == "bedrock:InvokeModel"]
    resources = json.dumps(bedrock)
    assert "foundation-model/amazon.nova-micro-v1:0" in resources
    assert "foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0" in resources  # profile prefix dropped
    assert "inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0" in resources
    assert "foundation-model/*" not in resources and "inference-profile/*" not in resources


def test_secret_arns_are_readable_by_the_model_callers_only() -> None:
    """Without decomposition (the default) the router calls no model: only tier and judge read the keys'
    secrets (with switchboard:decomposition the router reads them too, to ask the decomposer)."""
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:switchboard/openai-AbCdEf"
    the_app, stack = cdk_app.build_app(context={**PLACEHOLDER_LAYERS, "switchboard:secretArns": [arn],
                                                "switchboard:decomposition": False,
                                                "aws:cdk:disable-asset-staging": True})
    report = AwsSolutionsChecks().validate_scope(the_app)
    assert report.success, [v.rule_name for v in report.violations]
    for fn, expected in ((stack.cascade.tier, True), (stack.cascade.judge, True), (stack.cascade.decide, False),
                         (stack.cascade.compose, False), (stack.router, False)):
        policy = stack.resolve(fn.function.role.node.find_child("DefaultPolicy").node.default_child.policy_document)
        secrets = [s for s in policy["Statement"] if s["Action"] == "secretsmanager:GetSecretValue"]
        assert (secrets == [{"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": arn}]) is expected


def test_the_streaming_variant_streams_every_route_through_the_web_adapter_and_is_nag_and_lint_clean(
        tmp_path: Path) -> None:
    """switchboard:streaming: API Gateway invokes the router with InvokeWithResponseStream (STREAM transfer
    mode, a timeout past 29 s) and the router runs router/run.sh under the Lambda Web Adapter, its
    request deadline inside that timeout."""
    the_app, stack = cdk_app.build_app(context={**PLACEHOLDER_LAYERS, "switchboard:streaming": True, "switchboard:streamingTimeoutSeconds": 120,
                                                "aws:cdk:disable-asset-staging": True}, outdir=str(tmp_path / "out"))
    report = AwsSolutionsChecks().validate_scope(the_app)
    assert report.success, [v.rule_name for v in report.violations]
    assembly = the_app.synth()
    artifact = assembly.get_stack_by_name(stack.stack_name)
    template = artifact.template
    methods = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::Method"]
    assert len(methods) == len(API_ROUTES)
    for method in methods:
        integration = method["Integration"]
        assert integration["ResponseTransferMode"] == "STREAM" and integration["TimeoutInMillis"] == 120_000
        assert "response-streaming-invocations" in json.dumps(integration["Uri"])
    router = template["Resources"]["RouterFn"]["Properties"]
    env = router["Environment"]["Variables"]
    assert router["Handler"] == "router/run.sh" and router["Timeout"] == 120
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap" and env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert int(env[names.ENV_REQUEST_DEADLINE_S]) < 120
    assert any("LambdaAdapterLayerArm64" in json.dumps(layer) for layer in router["Layers"])  # arm64, as the functions
    assert env[names.ENV_STREAM_TOKENS] == "true"  # it streams a single tier's tokens: it may call models
    router_role = router["Role"]["Fn::GetAtt"][0]
    policies = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
                and {"Ref": router_role} in r["Properties"]["Roles"]]
    actions = {a for p in policies for st in p["PolicyDocument"]["Statement"]
               for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    assert {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"} <= actions  # ConverseStream too
    assert os.access(Path(cdk_app.__file__).parent / "functions" / "router" / "run.sh", os.X_OK)  # execed
    from cfnlint.api import lint_file

    matches = lint_file(Path(artifact.template_full_path))
    assert [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches] == []


def test_the_slow_classifier_option_lets_the_router_call_models_and_only_then() -> None:
    """switchboard:slowClassifier: the router calls the four-axis taxonomy's slow model itself."""
    def router_actions(context: dict) -> set[str]:
        the_app, stack = cdk_app.build_app(context={**context, "aws:cdk:disable-asset-staging": True})
        report = AwsSolutionsChecks().validate_scope(the_app)
        assert report.success, [v.rule_name for v in report.violations]
        policy = stack.resolve(stack.router.function.role.node.find_child("DefaultPolicy")
                               .node.default_child.policy_document)
        return {a for st in policy["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str)
                                                          else st["Action"])}

    assert "bedrock:InvokeModel" not in router_actions({})
    assert "bedrock:InvokeModel" in router_actions({"switchboard:slowClassifier": True})
    assert "bedrock:InvokeModel" in router_actions({"switchboard:decomposition": True})  # it asks the decomposer
