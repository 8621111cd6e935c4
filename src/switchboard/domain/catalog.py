"""The model catalogue's entries: how to reach a model and what it costs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ModelPrice(BaseModel):
    input_usd_per_mtok: float = Field(ge=0.0)
    output_usd_per_mtok: float = Field(ge=0.0)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok) / 1e6


class ModelEntry(BaseModel):
    """One model of the catalogue: how to reach it and what it costs."""

    model_config = ConfigDict(extra="ignore")

    model_id: str = Field(min_length=1)
    provider: Literal["local_gguf", "openai", "bedrock", "anthropic", "replay", "fault"]
    provider_model: str = Field(min_length=1)
    endpoint: str | None = None
    # Where the provider's API key comes from: an environment variable (local runs), or - in AWS - a
    # Secrets Manager secret (its ARN; the secret string is the key, or JSON with an "api_key" field).
    api_key_env: str | None = None
    api_key_secret_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$")
    price: ModelPrice
    context_tokens: int = 8192
    timeout_s: float = 60.0
    # Whether the model may be planned for a request with tools (it follows Switchboard's tool-call
    # protocol, ``domain.formats``); false keeps it out of such plans.
    supports_tools: bool = True
    # How tools reach a local model: "native" renders them with the model's own chat template where it has
    # a tool section (``adapters.providers.native_tools``), "protocol" always in Switchboard's protocol.
    tool_form: Literal["native", "protocol"] = "native"
    # Whether the router may plan the model on its own (routing, default tiers, a spare judge, the model
    # list, health); false: only a caller who pins it reaches it. Fault-injecting test doubles default to
    # false, so a catalogue that carries one never routes real traffic to it.
    routable: bool = True

    @model_validator(mode="before")
    @classmethod
    def _doubles_are_not_routed(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("provider") == "fault" and "routable" not in data:
            return {**data, "routable": False}
        return data
