"""OpenAI's Responses API (``POST /v1/responses``): the request, validated - every field honoured or
refused with a 400 naming it - and mapped onto the chat completion request this service already runs, so
every rule (budgets, keys, tools checked against their schemas, response formats) is the same.

``input`` (a string, or items: messages, ``function_call`` and ``function_call_output``) and
``instructions`` become the conversation; a ``previous_response_id``'s stored conversation goes first
(``service.responses``). Function ``tools``, ``tool_choice`` and ``parallel_tool_calls`` map one to one;
``text.format`` is ``response_format``; ``max_output_tokens`` is ``max_tokens``. What cannot be honoured -
built-in tools (``web_search``, ``file_search``...), ``reasoning``, ``include``, images and files - is a 400
naming the field. The response object is written by ``http.responses_render``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from switchboard.http.body import parse
from switchboard.http.chat_completions import ChatCompletionRequest, SwitchboardOptions
from switchboard.service.errors import BadRequest

# Fields accepted only at the value that changes nothing (what SDKs send by default).
NEUTRAL: dict[str, tuple[Any, ...]] = {
    "top_p": (1, 1.0), "truncation": ("disabled",), "service_tier": ("auto", "default"), "background": (False,),
    "include": ([],), "reasoning": ({},), "top_logprobs": (0,), "max_tool_calls": (),
    "prompt_cache_retention": (), "conversation": (), "prompt": (), "context_management": (),
}
WHY_REFUSED = {
    "reasoning": "reasoning settings cannot be honoured by every model of the cascade",
    "include": "no extra output (reasoning, logprobs, search results) is produced",
    "background": "run long cascades as jobs: POST /v1/route with \"async\": true",
    "conversation": "conversations are continued with previous_response_id",
    "truncation": "a conversation too long for a model is refused, never truncated",
}
# A chat completion parameter's name in the Responses API (errors name the field the caller sent).
PARAM_NAMES = {"messages": "input", "max_tokens": "max_output_tokens", "response_format": "text",
               "tools": "tools", "tool_choice": "tool_choice"}


class FunctionTool(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["function"]
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = Field(default=None, max_length=4000)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None  # every call's arguments are checked against the schema: always strict


class TextFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    type: Literal["text", "json_object", "json_schema"]
    name: str | None = Field(default=None, min_length=1, max_length=64)
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    description: str | None = Field(default=None, max_length=2000)
    strict: bool | None = None


class TextConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    format: TextFormat | None = None
    verbosity: Literal["medium"] | None = None  # the one verbosity every model answers with

    def response_format(self) -> dict[str, Any] | None:
        fmt = self.format
        if fmt is None or fmt.type == "text":
            return None
        if fmt.type == "json_object":
            return {"type": "json_object"}
        if fmt.schema_ is None or not fmt.name:
            raise BadRequest("text.format of type json_schema needs a name and a schema", param="text")
        return {"type": "json_schema", "json_schema": {"name": fmt.name, "schema": fmt.schema_}}


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    include_obfuscation: bool | None = None  # no padding is added to events either way


class ResponsesRequest(BaseModel):
    """``POST /v1/responses``. Every field is honoured or refused (400 naming it)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str = "auto"
    input: str | list[dict[str, Any]] = Field(description=(
        "a string (one user message), or items: messages (role user, assistant, system or developer; content "
        "a string or input_text/output_text parts), function_call and function_call_output"))
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = Field(default=None, max_length=64)
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    max_output_tokens: int | None = Field(default=None, ge=1, le=4096)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    metadata: dict[str, str] | None = Field(default=None, max_length=16)
    store: bool | None = None
    previous_response_id: str | None = Field(default=None, min_length=1, max_length=128)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, max_length=256)
    safety_identifier: str | None = Field(default=None, max_length=256)
    prompt_cache_key: str | None = Field(default=None, min_length=1, max_length=256)
    switchboard: SwitchboardOptions | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name in [n for n in data if n in NEUTRAL]:
            value = data[name]
            if value is None or any(value == v and type(value) is type(v) for v in NEUTRAL[name]):
                del data[name]
                continue
            why = WHY_REFUSED.get(name, "only its default value is supported")
            raise BadRequest(f"parameter '{name}' = {json.dumps(value)[:80]} is not supported: {why}", param=name)
        return data

    @model_validator(mode="after")
    def _checks(self) -> ResponsesRequest:
        if self.stream_options is not None and not self.stream:
            raise BadRequest("stream_options is only allowed with stream=true", param="stream_options")
        for key, value in (self.metadata or {}).items():
            if len(key) > 64 or len(value) > 512:
                raise BadRequest("metadata keys are at most 64 characters and values at most 512", param="metadata")
        return self

    @property
    def stored(self) -> bool:
        """Whether the response is kept for ``GET /v1/responses/{id}`` and ``previous_response_id``
        (OpenAI's default: yes)."""
        return self.store is not False

    def items(self) -> list[dict[str, Any]]:
        """``input`` as items (a string is one user message)."""
        if isinstance(self.input, str):
            return [{"type": "message", "role": "user", "content": self.input}]
        return [dict(item) for item in self.input]

    def chat_tools(self) -> list[dict[str, Any]] | None:
        if self.tools is None:
            return None
        out = []
        for raw in self.tools:
            if raw.get("type") != "function":
                raise BadRequest(f"tools: the built-in tool {str(raw.get('type'))[:40]!r} is not supported; only "
                                 "function tools are", param="tools")
            tool = parse(FunctionTool, raw)
            function: dict[str, Any] = {"name": tool.name, "description": tool.description or ""}
            if tool.parameters is not None:
                function["parameters"] = tool.parameters
            out.append({"type": "function", "function": function})
        return out

    def chat_tool_choice(self) -> str | dict[str, Any] | None:
        choice = self.tool_choice
        if choice is None or isinstance(choice, str):
            return choice
        if choice.get("type") != "function" or not isinstance(choice.get("name"), str) or set(choice) != {"type", "name"}:
            raise BadRequest("tool_choice must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", "
                             "\"name\": ...}; built-in tool choices are not supported", param="tool_choice")
        return {"type": "function", "function": {"name": choice["name"]}}

    def chat_request(self, history: list[dict[str, Any]]) -> ChatCompletionRequest:
        """The request in chat completion terms, its conversation ``history`` (a previous response's)
        followed by this request's instructions and input; errors name the Responses API's fields."""
        messages = conversation(history, self.items(), self.instructions)
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        optional = {"max_tokens": self.max_output_tokens, "temperature": self.temperature,
                    "user": self.user or self.safety_identifier, "prompt_cache_key": self.prompt_cache_key,
                    "tools": self.chat_tools(),
                    "tool_choice": self.chat_tool_choice(), "parallel_tool_calls": self.parallel_tool_calls,
                    "response_format": self.text.response_format() if self.text else None,
                    "switchboard": self.switchboard.model_dump(exclude_none=True) if self.switchboard else None}
        body.update({k: v for k, v in optional.items() if v is not None})
        try:
            return parse(ChatCompletionRequest, body)
        except BadRequest as exc:
            head = (exc.param or "").split(".")[0]
            raise BadRequest(str(exc).replace("messages", "input"), param=PARAM_NAMES.get(head, exc.param)) from None


def _text(content: Any, where: str) -> str:
    """A message's content as text: a string, or parts of type input_text / output_text."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise BadRequest(f"{where}: content must be a string or a list of text parts", param="input")
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in ("input_text", "output_text") or not isinstance(part.get("text"), str):
            raise BadRequest(f"{where}: content part {str(kind)[:30]!r} is not supported; only input_text and "
                             "output_text are", param="input")
        texts.append(part["text"])
    return "\n".join(texts)


def conversation(history: list[dict[str, Any]], items: list[dict[str, Any]],
                 instructions: str | None) -> list[dict[str, Any]]:
    """Chat messages for a previous response's items, ``instructions`` (a system turn, never carried over
    from a previous response) and this request's items. ``function_call`` items become an assistant
    turn's ``tool_calls``; a ``function_call_output`` whose ``call_id`` answers no earlier call is a 400."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": instructions}] if instructions else []
    called: set[str] = set()
    for index, item in enumerate([*history, *items]):
        where = f"input[{index - len(history)}]" if index >= len(history) else "the previous response"
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise BadRequest(f"{where}: role {str(role)[:20]!r} is not a message role", param="input")
            messages.append({"role": role, "content": _text(item.get("content"), where)})
        elif kind == "function_call":
            call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
            if not all(isinstance(v, str) and v for v in (call_id, name)) or not isinstance(arguments, str):
                raise BadRequest(f"{where}: a function_call needs call_id, name and arguments (a JSON string)",
                                 param="input")
            call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":  # calls made beside (or after) its text
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
            called.add(str(call_id))
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or call_id not in called:
                raise BadRequest(f"{where}: function_call_output for call_id {str(call_id)[:80]!r} answers no "
                                 "function_call of the conversation", param="input")
            output = item.get("output")
            messages.append({"role": "tool", "tool_call_id": call_id,
                             "content": output if isinstance(output, str) else _text(output, where)})
        else:
            raise BadRequest(f"{where}: items of type {str(kind)[:40]!r} are not supported (messages, function_call "
                             "and function_call_output are)", param="input")
    return messages
