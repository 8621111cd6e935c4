"""Anthropic's Messages API (``POST /v1/messages``) on the same cascade.

A Messages request is mapped onto the OpenAI request this service already validates and runs - so every
rule (parameters honoured or refused by name, budgets, keys, tools checked against their schemas) is the
same - and the final state is mapped back onto Anthropic's response: ``content`` blocks (``text``, or
``tool_use`` with the checked arguments as ``input``), ``stop_reason``, ``usage`` (every call billed), and
the ``switchboard`` object. Errors take Anthropic's shape (``{"type": "error", "error": {type, message}}``).
``stream: true`` answers with Anthropic's event stream (``message_start`` … ``message_stop``), sent once
the cascade has decided.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from switchboard.domain.state import CascadeState
from switchboard.http.body import parse
from switchboard.http.chat_completions import ChatCompletionRequest
from switchboard.http.rendering import chat_completion_response
from switchboard.service.errors import BadRequest

# Anthropic parameters accepted only at a value that changes nothing; any other value is refused by name.
NEUTRAL = {"top_p": (1, 1.0), "top_k": (), "service_tier": ("auto", "standard_only"), "thinking": ()}


class TextBlock(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["text"]
    text: str
    cache_control: dict[str, Any] | None = None  # a prompt-caching hint: nothing to cache, harmless


class ToolUseBlock(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["tool_use"]
    id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=64)
    input: dict[str, Any]


class ToolResultBlock(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1, max_length=128)
    content: str | list[TextBlock] = ""
    is_error: bool | None = None


class AnthropicMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    role: Literal["user", "assistant"]
    content: str | list[TextBlock | ToolUseBlock | ToolResultBlock] = Field(min_length=1)

    def openai(self) -> list[dict[str, Any]]:
        """This turn as OpenAI messages (a user turn's tool results become ``tool`` messages)."""
        if isinstance(self.content, str):
            return [{"role": self.role, "content": self.content}]
        text = "\n".join(b.text for b in self.content if isinstance(b, TextBlock))
        uses = [b for b in self.content if isinstance(b, ToolUseBlock)]
        results = [b for b in self.content if isinstance(b, ToolResultBlock)]
        out: list[dict[str, Any]] = []
        for result in results:
            body = result.content if isinstance(result.content, str) else "\n".join(b.text for b in result.content)
            out.append({"role": "tool", "tool_call_id": result.tool_use_id,
                        "content": ("[error] " if result.is_error else "") + body})
        if uses:
            out.append({"role": "assistant", "content": text or None, "tool_calls": [
                {"id": u.id, "type": "function", "function": {"name": u.name, "arguments": json.dumps(u.input)}}
                for u in uses]})
        elif text or not results:
            out.append({"role": self.role, "content": text})
        return out


class AnthropicTool(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    input_schema: dict[str, Any]
    cache_control: dict[str, Any] | None = None


class AnthropicToolChoice(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class MessagesRequest(BaseModel):
    """Anthropic's ``POST /v1/messages`` body. Every field is honoured or refused (400 naming it)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str
    max_tokens: int = Field(ge=1, le=4096)
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: str | list[TextBlock] | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    stop_sequences: list[str] | None = Field(default=None, max_length=4)
    stream: bool | None = None
    metadata: dict[str, Any] | None = None
    tools: list[AnthropicTool] | None = None
    tool_choice: AnthropicToolChoice | None = None
    switchboard: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _neutral(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in [n for n in data if n in NEUTRAL]:
                value = data[name]
                if value is None or any(value == v and type(value) is type(v) for v in NEUTRAL[name]):
                    del data[name]
                else:
                    raise BadRequest(f"parameter '{name}' = {json.dumps(value)[:80]} is not supported", param=name)
        return data

    def openai(self) -> ChatCompletionRequest:
        """The same request in OpenAI's terms (validated there: the one set of rules)."""
        messages: list[dict[str, Any]] = []
        if self.system:
            system = self.system if isinstance(self.system, str) else "\n".join(b.text for b in self.system)
            messages.append({"role": "system", "content": system})
        for message in self.messages:
            messages.extend(message.openai())
        body: dict[str, Any] = {"model": self.model, "max_tokens": self.max_tokens, "messages": messages}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.stop_sequences:
            body["stop"] = self.stop_sequences
        user = (self.metadata or {}).get("user_id")
        unknown = sorted(set(self.metadata or {}) - {"user_id"})
        if unknown:
            raise BadRequest(f"metadata.{unknown[0]} is not supported (only user_id)", param="metadata")
        if user is not None:
            body["user"] = str(user)[:256]
        if self.tools:
            body["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description or "",
                                                               "parameters": t.input_schema}} for t in self.tools]
            choice = self.tool_choice
            if choice is not None:
                if choice.type == "tool":
                    if not choice.name:
                        raise BadRequest("tool_choice of type tool needs a name", param="tool_choice")
                    body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
                else:
                    body["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[choice.type]
                if choice.disable_parallel_tool_use:
                    body["parallel_tool_calls"] = False
        elif self.tool_choice is not None and self.tool_choice.type != "none":
            raise BadRequest("tool_choice needs tools", param="tool_choice")
        if self.switchboard is not None:
            body["switchboard"] = self.switchboard
        return parse(ChatCompletionRequest, body)


def messages_response(state: CascadeState) -> dict[str, Any]:
    """Anthropic's message object for the cascade's answer."""
    whole = chat_completion_response(state)
    choice = whole["choices"][0]
    message = choice["message"]
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        content.append({"type": "tool_use", "id": call["id"].replace("call_", "toolu_", 1),
                        "name": call["function"]["name"], "input": json.loads(call["function"]["arguments"])})
    # an answer cut at a stop sequence reads as an end of turn (which sequence ended it is not kept)
    stop_reason = {"tool_calls": "tool_use", "length": "max_tokens"}.get(choice["finish_reason"], "end_turn")
    stop_sequence = None
    usage = whole["usage"]
    return {"id": f"msg_{state.request_id}", "type": "message", "role": "assistant", "model": whole["model"],
            "content": content, "stop_reason": stop_reason, "stop_sequence": stop_sequence,
            "usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]},
            "switchboard": whole["switchboard"]}


def messages_stream(state: CascadeState) -> str:
    """Anthropic's event stream of the decided answer."""
    message = messages_response(state)

    def event(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data}, separators=(',', ':'))}\n\n"

    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {"input_tokens": message["usage"]["input_tokens"], "output_tokens": 0}}
    out = [event("message_start", {"message": start})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            out.append(event("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}}))
            out.append(event("content_block_delta", {"index": index,
                                                     "delta": {"type": "text_delta", "text": block["text"]}}))
        else:
            out.append(event("content_block_start", {"index": index, "content_block": {**block, "input": {}}}))
            out.append(event("content_block_delta", {"index": index, "delta": {
                "type": "input_json_delta", "partial_json": json.dumps(block["input"])}}))
        out.append(event("content_block_stop", {"index": index}))
    out.append(event("message_delta", {"delta": {"stop_reason": message["stop_reason"],
                                                 "stop_sequence": message["stop_sequence"]},
                                       "usage": {"output_tokens": message["usage"]["output_tokens"]},
                                       "switchboard": message["switchboard"]}))
    out.append(event("message_stop", {}))
    return "".join(out)


ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "invalid_request_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               503: "overloaded_error", 529: "overloaded_error"}


def anthropic_error(status: int, openai_body: dict[str, Any]) -> dict[str, Any]:
    """An error body of this service (OpenAI's shape) in Anthropic's shape, keeping param and trace id."""
    error = openai_body.get("error", {})
    out = {"type": ERROR_TYPES.get(status, "api_error"), "message": error.get("message", "")}
    for extra in ("param", "code", "trace_id"):
        if error.get(extra) is not None:
            out[extra] = error[extra]
    return {"type": "error", "error": out}
