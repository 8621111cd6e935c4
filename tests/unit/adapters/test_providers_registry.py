"""build_provider dispatch, configuration errors, the fault double and the per-model cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.adapters.providers.anthropic import AnthropicMessages
from switchboard.adapters.providers.bedrock import BedrockConverse
from switchboard.adapters.providers.fault import FaultInjecting
from switchboard.adapters.providers.local_gguf import LocalGGUF
from switchboard.adapters.providers.openai_compat import OpenAICompatible
from switchboard.adapters.providers.registry import ProviderRegistry, build_provider
from switchboard.domain.catalog import ModelEntry, ModelPrice
from switchboard.domain.requests import Message
from switchboard.ports import (
    CompletionRequest,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)

PRICE = ModelPrice(input_usd_per_mtok=1.0, output_usd_per_mtok=2.0)
HI = [Message(role="user", content="hi")]


def entry(provider: str, provider_model: str = "m", **kw) -> ModelEntry:
    return ModelEntry(model_id=kw.pop("model_id", "x"), provider=provider, provider_model=provider_model,
                      price=PRICE, **kw)


def test_openai_entry_builds_openai_compatible_with_key_from_named_env_var(monkeypatch):
    monkeypatch.setenv("SB_TEST_KEY", "sk-from-env")
    provider = build_provider(entry("openai", endpoint="http://127.0.0.1:1/v1", api_key_env="SB_TEST_KEY"))
    assert isinstance(provider, OpenAICompatible)
    assert provider.base_url == "http://127.0.0.1:1/v1" and provider._api_key == "sk-from-env"


def test_openai_entry_with_unset_key_variable_is_rejected_without_leaking_values(monkeypatch):
    monkeypatch.delenv("SB_TEST_KEY", raising=False)
    with pytest.raises(ProviderRejected, match="SB_TEST_KEY is not set"):
        build_provider(entry("openai", endpoint="http://127.0.0.1:1/v1", api_key_env="SB_TEST_KEY"))


def test_openai_entry_without_endpoint_is_rejected():
    with pytest.raises(ProviderRejected, match="no endpoint"):
        build_provider(entry("openai"))


def test_anthropic_and_bedrock_entries_build_their_adapters(monkeypatch):
    monkeypatch.setenv("SB_ANT_KEY", "k")
    assert isinstance(build_provider(entry("anthropic", api_key_env="SB_ANT_KEY")), AnthropicMessages)
    sentinel = object()
    bedrock = build_provider(entry("bedrock", "amazon.nova-micro-v1:0"), bedrock_client=sentinel)
    assert isinstance(bedrock, BedrockConverse) and bedrock.client is sentinel


def test_local_gguf_entry_resolves_known_model_name_through_model_store(tmp_path):
    provider = build_provider(entry("local_gguf", "qwen2.5-coder-0.5b-instruct-q4_k_m", context_tokens=4096),
                              model_dir=tmp_path)
    assert isinstance(provider, LocalGGUF)
    assert provider.model_path == (tmp_path / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf").resolve()
    assert provider.n_ctx == 4096


def test_local_gguf_missing_file_fails_on_call_with_pull_hint(tmp_path):
    provider = build_provider(entry("local_gguf", "qwen2.5-coder-0.5b-instruct-q4_k_m"), model_dir=tmp_path)
    with pytest.raises(ProviderRejected, match="model file not found.*switchboard models pull"):
        provider.complete(CompletionRequest(HI, max_tokens=4, temperature=0.0))


def test_local_gguf_file_that_is_not_gguf_is_rejected_with_hint(tmp_path: Path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"<html>not a model</html>")
    with pytest.raises(ProviderRejected, match="not a GGUF file"):
        LocalGGUF(bogus).complete(CompletionRequest(HI, max_tokens=4, temperature=0.0))


def test_local_gguf_unknown_model_name_is_rejected():
    with pytest.raises(ProviderRejected, match="unknown local model"):
        build_provider(entry("local_gguf", "no-such-model"))


def test_replay_entry_is_rejected_for_now():
    with pytest.raises(ProviderRejected, match="replay provider needs recorded data"):
        build_provider(entry("replay"))


def test_unknown_provider_is_rejected():
    bad = ModelEntry.model_construct(model_id="x", provider="carrier-pigeon", provider_model="m", price=PRICE)
    with pytest.raises(ProviderRejected, match="unknown provider"):
        build_provider(bad)


@pytest.mark.parametrize("mode, error", [("timeout", ProviderTimeout), ("5xx", ProviderUnavailable),
                                         ("4xx", ProviderRejected)])
def test_fault_entry_always_raises_its_mode_error(mode, error):
    provider = build_provider(entry("fault", mode))
    assert isinstance(provider, FaultInjecting)
    for _ in range(2):
        with pytest.raises(error, match="injected fault"):
            provider.complete(CompletionRequest(HI, max_tokens=4, temperature=0.0))
    assert provider.calls == 2


def test_fault_with_unknown_mode_is_rejected():
    with pytest.raises(ProviderRejected, match="unknown fault mode"):
        FaultInjecting("gremlins")


def test_registry_builds_once_per_model_and_rebuilds_when_entry_changes():
    registry = ProviderRegistry()
    first = registry.provider_for(entry("fault", "5xx"))
    assert registry.provider_for(entry("fault", "5xx")) is first
    changed = registry.provider_for(entry("fault", "timeout"))
    assert changed is not first and changed.mode == "timeout"
    other = registry.provider_for(entry("fault", "5xx", model_id="y"))
    assert other is not changed


# ---- API keys from AWS Secrets Manager (moto stands in for the service, in process) --------------------

@pytest.fixture
def secrets():
    import boto3
    from moto import mock_aws

    from switchboard.adapters.providers.registry import forget_secrets

    forget_secrets()
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="eu-west-1", aws_access_key_id="test",
                           aws_secret_access_key="test")
    forget_secrets()


def _keyed(arn: str, provider: str = "anthropic") -> ModelEntry:
    return ModelEntry(model_id="m", provider=provider, provider_model="claude", api_key_secret_arn=arn,
                      endpoint="http://127.0.0.1:9" if provider == "openai" else None,
                      price=ModelPrice(input_usd_per_mtok=1, output_usd_per_mtok=1))


@pytest.mark.parametrize("stored", ["sk-secret-123", '{"api_key": "sk-secret-123"}'])
def test_the_api_key_comes_from_the_secret_once_per_container(secrets, stored):
    from switchboard.adapters.providers.registry import build_provider

    arn = secrets.create_secret(Name="switchboard/anthropic", SecretString=stored)["ARN"]
    calls = []
    original = secrets.get_secret_value

    def counting(**kwargs):
        calls.append(kwargs["SecretId"])
        return original(**kwargs)

    secrets.get_secret_value = counting
    first = build_provider(_keyed(arn), secrets_client=secrets)
    second = build_provider(_keyed(arn, provider="openai"), secrets_client=secrets)
    assert first._api_key == "sk-secret-123" and second._api_key == "sk-secret-123"
    assert "sk-secret-123" not in repr(first) + repr(second)
    assert calls == [arn]


def test_a_missing_or_empty_secret_is_refused_without_its_value(secrets):
    from switchboard.adapters.providers.registry import build_provider

    missing = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:nope-AbCdEf"
    with pytest.raises(ProviderRejected, match="ResourceNotFoundException") as caught:
        build_provider(_keyed(missing), secrets_client=secrets)
    assert missing in str(caught.value)
    arn = secrets.create_secret(Name="empty", SecretString='{"token": "sk-not-the-field"}')["ARN"]
    with pytest.raises(ProviderRejected, match="empty") as caught:
        build_provider(_keyed(arn), secrets_client=secrets)
    assert "sk-not-the-field" not in str(caught.value)


def test_a_secret_arn_must_look_like_one():
    with pytest.raises(ValueError):
        _keyed("my-key")
