"""Build the provider a catalogue entry describes, and keep one per model for the life of a warm container.

Only this module knows which adapter serves which ``ModelEntry.provider``; the handlers ask a
``ProviderRegistry`` (it satisfies the service's ``ProviderSource`` port) and stay provider-agnostic.
Configuration errors (unknown provider, missing endpoint or API key, unknown local model) raise
``ProviderRejected``: retrying them cannot help, and the cascade falls through to its next tier.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import httpx

from switchboard.domain.catalog import ModelEntry
from switchboard.ports import Provider, ProviderRejected

_SECRETS: dict[str, str] = {}
_SECRETS_LOCK = threading.Lock()


def secret_api_key(arn: str, client: Any | None = None) -> str:
    """The API key in Secrets Manager secret ``arn``, read once per container (then cached in memory).
    The secret string is the key itself, or JSON with an ``api_key`` field. Errors name the secret, never
    its value."""
    with _SECRETS_LOCK:
        cached = _SECRETS.get(arn)
        if cached is not None:
            return cached
        if client is None:
            import boto3

            region = arn.split(":")[3]
            client = boto3.client("secretsmanager", region_name=region)
        try:
            value = client.get_secret_value(SecretId=arn).get("SecretString") or ""
        except Exception as exc:  # botocore ClientError (denied, not found), no credentials, no network
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise ProviderRejected(f"cannot read the API key secret {arn}: {code}") from None
        if value.lstrip().startswith("{"):
            try:
                value = str(json.loads(value).get("api_key") or "")
            except ValueError:
                value = ""
        if not value:
            raise ProviderRejected(f"the API key secret {arn} is empty (or JSON without an api_key field)")
        _SECRETS[arn] = value
        return value


def forget_secrets() -> None:
    """Drop cached secrets (tests; a rotated key is read again by a new container)."""
    with _SECRETS_LOCK:
        _SECRETS.clear()


def _api_key(entry: ModelEntry, required: bool, secrets_client: Any | None = None) -> str | None:
    if entry.api_key_secret_arn:
        return secret_api_key(entry.api_key_secret_arn, secrets_client)
    if not entry.api_key_env:
        if required:
            raise ProviderRejected(f"model '{entry.model_id}' needs api_key_secret_arn (AWS) or api_key_env "
                                   "(the variable with its key)")
        return None
    key = os.environ.get(entry.api_key_env)
    if not key:
        # Name the variable, never its value.
        raise ProviderRejected(f"model '{entry.model_id}': environment variable {entry.api_key_env} "
                               "is not set")
    return key


def _local_model_path(entry: ModelEntry, model_dir: Path | str | None) -> Path:
    """A known model name resolves through the model store; a ``*.gguf`` path is taken as given."""
    if entry.provider_model.endswith(".gguf"):
        return Path(entry.provider_model)
    from switchboard.adapters.providers.gguf_store import UnknownModelError, model_path

    try:
        return model_path(entry.provider_model, model_dir)
    except UnknownModelError as exc:
        raise ProviderRejected(f"model '{entry.model_id}': {exc}") from None


def build_provider(entry: ModelEntry, *, http: httpx.Client | None = None, bedrock_client: Any | None = None,
                   model_dir: Path | str | None = None, secrets_client: Any | None = None) -> Provider:
    """The adapter for ``entry``; ``http``/``bedrock_client`` are injected clients (tests, shared pools).

    A local model is not downloaded here (a Lambda must not fetch a GB on a request path); if its file
    is missing the provider's first call says to run ``switchboard models pull``.
    """
    kind = entry.provider
    if kind == "openai":
        if not entry.endpoint:
            raise ProviderRejected(f"model '{entry.model_id}' (openai) has no endpoint")
        from .openai_compat import OpenAICompatible

        return OpenAICompatible(entry.endpoint, entry.provider_model, api_key=_api_key(entry, required=False, secrets_client=secrets_client),
                                http=http, timeout_s=entry.timeout_s)
    if kind == "anthropic":
        from .anthropic import AnthropicMessages

        kwargs: dict[str, Any] = {"base_url": entry.endpoint} if entry.endpoint else {}
        return AnthropicMessages(entry.provider_model, api_key=_api_key(entry, required=True, secrets_client=secrets_client), http=http,
                                 timeout_s=entry.timeout_s, **kwargs)
    if kind == "bedrock":
        from .bedrock import BedrockConverse

        # ``endpoint`` holds the region for Bedrock entries, when it is not the Lambda's own region.
        return BedrockConverse(entry.provider_model, client=bedrock_client, region=entry.endpoint,
                               timeout_s=entry.timeout_s)
    if kind == "local_gguf":
        from .local_gguf import LocalGGUF

        return LocalGGUF(_local_model_path(entry, model_dir), n_ctx=entry.context_tokens,
                         timeout_s=entry.timeout_s, native_tools=entry.tool_form == "native")
    if kind == "fault":
        from .fault import FaultInjecting

        return FaultInjecting(entry.provider_model)
    if kind == "replay":
        raise ProviderRejected("replay provider needs recorded data; see switchboard.offline")
    raise ProviderRejected(f"model '{entry.model_id}': unknown provider {kind!r}")


class ProviderRegistry:
    """Builds each model's provider once and reuses it (its HTTP pool, its loaded GGUF) across requests.

    A changed catalogue entry for the same ``model_id`` builds a fresh provider.
    """

    def __init__(self, *, http: httpx.Client | None = None, bedrock_client: Any | None = None,
                 model_dir: Path | str | None = None, secrets_client: Any | None = None) -> None:
        self._http = http
        self._secrets_client = secrets_client
        self._bedrock_client = bedrock_client
        self._model_dir = model_dir
        self._built: dict[str, tuple[ModelEntry, Provider]] = {}
        self._lock = threading.Lock()

    def provider_for(self, entry: ModelEntry) -> Provider:
        with self._lock:
            cached = self._built.get(entry.model_id)
            if cached is not None and cached[0] == entry:
                return cached[1]
            provider = build_provider(entry, http=self._http, bedrock_client=self._bedrock_client,
                                      model_dir=self._model_dir, secrets_client=self._secrets_client)
            self._built[entry.model_id] = (entry, provider)
            return provider
