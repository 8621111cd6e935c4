"""Configuration from CDK context fails early on bad values; layers fall back to an 'unbuilt' stand-in."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import app as cdk_app
from infra.config import ConfigError, SwitchboardConfig
from infra.constructs.layers import LayersNotBuilt, layer_dir
from tests.infra.support import ROOT


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


def test_cli_style_string_values_are_accepted() -> None:
    config = SwitchboardConfig.from_mapping({
        "switchboard:requireBuiltLayers": "true", "switchboard:hourlySpendAlarmUsd": "2.5",
        "switchboard:bedrockModelIds": "amazon.nova-micro-v1:0,us.anthropic.claude-3-5-haiku-20241022-v1:0"})
    assert config.require_built_layers is True
    assert config.hourly_spend_alarm_usd == 2.5
    assert config.bedrock_model_ids == ["amazon.nova-micro-v1:0",
                                        "us.anthropic.claude-3-5-haiku-20241022-v1:0"]


def test_missing_layer_gets_an_unbuilt_stand_in_that_says_so(tmp_path: Path) -> None:
    directory = layer_dir(tmp_path, "core", require_built=False)
    assert directory == tmp_path / "build" / "layers" / "core-unbuilt"
    readme = (directory / "python" / "README.txt").read_text()
    assert "NOT built" in readme and "bash layers/build.sh" in readme


def test_built_layer_is_used_when_present(tmp_path: Path) -> None:
    (tmp_path / "build" / "layers" / "encoder" / "python" / "onnxruntime").mkdir(parents=True)
    assert layer_dir(tmp_path, "encoder", require_built=True) == tmp_path / "build" / "layers" / "encoder"


def test_requiring_built_layers_fails_the_synth_with_the_build_command(tmp_path: Path) -> None:
    shutil.copy(ROOT / "cdk.json", tmp_path / "cdk.json")
    (tmp_path / "functions").mkdir()
    with pytest.raises(LayersNotBuilt, match=r"bash layers/build\.sh"):
        cdk_app.build_app(context={"switchboard:requireBuiltLayers": True}, root=tmp_path)
