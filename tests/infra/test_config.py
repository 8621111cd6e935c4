"""Configuration from CDK context fails early on bad values; placeholder layers only when asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import app as cdk_app
from infra.config import ConfigError, SwitchboardConfig
from infra.constructs.layers import placeholder_dir
from tests.infra.support import PLACEHOLDER_LAYERS, ROOT


def test_cdk_json_context_defaults_equal_the_config_defaults() -> None:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    ours = {k: v for k, v in context.items() if k.startswith("switchboard:")}
    assert sorted(ours) == SwitchboardConfig.context_keys()
    assert SwitchboardConfig.from_mapping(ours) == SwitchboardConfig()


def test_cdk_json_runs_the_app_with_python3() -> None:
    assert json.loads((ROOT / "cdk.json").read_text())["app"] == "python3 app.py"


@pytest.mark.parametrize(("context", "message"), [
    ({"switchboard:hourlySpendAlarmUsd": -1}, "switchboard:hourlySpendAlarmUsd"),
    ({"switchboard:apiAuth": "cognito"}, "switchboard:apiAuth"),
    ({"switchboard:logRetentionDays": 42}, "switchboard:logRetentionDays"),
    ({"switchboard:tracesRemovalPolicy": "snapshot"}, "switchboard:tracesRemovalPolicy"),
    ({"switchboard:alarmEmail": "not-an-email"}, "switchboard:alarmEmail"),
    ({"switchboard:bedrockModelIds": ["anthropic.claude v2"]}, "switchboard:bedrockModelIds"),
    ({"switchboard:hourlySpendAlarmUSD": 3}, "unknown context key"),  # a typo is not silently ignored
])
def test_bad_context_fails_before_any_construct_is_built(context: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cdk_app.build_app(context=context)


def test_the_defaults_build_the_layers_for_arm64_with_the_matching_web_adapter() -> None:
    config = SwitchboardConfig()
    assert (config.layers, config.architecture) == ("build", "arm64")
    assert config.web_adapter_arn.endswith(":layer:LambdaAdapterLayerArm64:25")
    x86 = SwitchboardConfig.from_mapping({"switchboard:architecture": "x86_64"})
    assert x86.web_adapter_arn.endswith(":layer:LambdaAdapterLayerX86:25")


def test_the_removed_require_built_layers_key_says_what_replaced_it() -> None:
    with pytest.raises(ConfigError, match=r"requireBuiltLayers was removed: every synth now builds"):
        cdk_app.build_app(context={"switchboard:requireBuiltLayers": True})


def test_cli_style_string_values_are_accepted() -> None:
    config = SwitchboardConfig.from_mapping({
        "switchboard:layers": "placeholder", "switchboard:hourlySpendAlarmUsd": "2.5",
        "switchboard:bedrockModelIds": "amazon.nova-micro-v1:0,us.anthropic.claude-3-5-haiku-20241022-v1:0"})
    assert config.layers == "placeholder"
    assert config.hourly_spend_alarm_usd == 2.5
    assert config.bedrock_model_ids == ["amazon.nova-micro-v1:0",
                                        "us.anthropic.claude-3-5-haiku-20241022-v1:0"]


def test_a_placeholder_layer_says_it_is_not_built_and_how_to_deploy(tmp_path: Path) -> None:
    directory = placeholder_dir(tmp_path, "core")
    assert directory == tmp_path / "build" / "layers" / "core-placeholder"
    readme = (directory / "python" / "README.txt").read_text()
    assert "NOT built" in readme and "switchboard:layers=build" in readme


def test_placeholder_layers_are_named_as_such_and_warn(synth) -> None:
    layers = synth.resources("AWS::Lambda::LayerVersion")
    assert all("PLACEHOLDER" in r["Properties"]["Description"] for r in layers.values())
    messages = json.loads((synth.outdir / "validation-report.json").read_text())
    assert "switchboard:layers-not-built" in json.dumps(messages)


def _router_dir(path: Path, encoder: str = "all-minilm-l6-v2-int8") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "router.onnx").write_bytes(b"onnx graph bytes")
    (path / "router.json").write_text(json.dumps({"models": ["m1", "m2"], "input": {"dim": 384, "encoder": encoder}}))
    (path / "verifier.onnx").write_bytes(b"onnx graph bytes")
    (path / "verifier.json").write_text(json.dumps({"models": ["m1", "m2"], "features": []}))
    (path / "taxonomy.json").write_text("{}")  # other artifacts of the run must stay out of the layer
    (path / "dial.json").write_text("{}")  # the dial is published as data (the Policy table)
    return path


def test_router_artifacts_become_a_routing_layer_of_router_and_decide_with_the_env_var(tmp_path: Path) -> None:
    from switchboard.envvars import ENV_ROUTER_ARTIFACTS

    artifacts = _router_dir(tmp_path / "run")
    # Assets are staged here (unlike the shared synth) so the layer's actual contents can be checked.
    the_app, stack = cdk_app.build_app(context={**PLACEHOLDER_LAYERS, "switchboard:routerArtifacts": str(artifacts)},
                                       outdir=str(tmp_path / "out"))
    template = the_app.synth().get_stack_by_name(stack.stack_name).template
    functions = {lid: r["Properties"] for lid, r in template["Resources"].items()
                 if r["Type"] == "AWS::Lambda::Function" and lid in ("RouterFn", "TierFn", "DecideFn")}
    assert len(functions["RouterFn"]["Layers"]) == 3 and len(functions["TierFn"]["Layers"]) == 1
    assert functions["RouterFn"]["Environment"]["Variables"][ENV_ROUTER_ARTIFACTS] == "/opt"
    assert functions["DecideFn"]["Environment"]["Variables"][ENV_ROUTER_ARTIFACTS] == "/opt"
    layer_ref = functions["RouterFn"]["Layers"][2]["Ref"]
    assert {"Ref": layer_ref} in functions["DecideFn"]["Layers"]
    assert "routing models" in template["Resources"][layer_ref]["Properties"]["Description"]
    # the staged layer asset holds exactly the router's and the verifier's files, not the run's data
    staged = [d for d in (tmp_path / "out").glob("asset.*") if (d / "router.onnx").exists()]
    assert len(staged) == 1
    assert {p.name for p in staged[0].iterdir()} == {"router.onnx", "router.json", "verifier.onnx",
                                                     "verifier.json"}


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p / "nowhere", "lacks"),
    (lambda p: _router_dir(p / "other", encoder="bge-small"), "trained on 'bge-small'"),
])
def test_unusable_router_artifacts_fail_the_synth(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cdk_app.build_app(context={**PLACEHOLDER_LAYERS, "switchboard:routerArtifacts": str(make(tmp_path))})


def test_default_synth_has_no_learned_router(synth) -> None:
    from switchboard.envvars import ENV_ROUTER_ARTIFACTS

    router = synth.template["Resources"]["RouterFn"]["Properties"]
    assert ENV_ROUTER_ARTIFACTS not in router["Environment"]["Variables"]
