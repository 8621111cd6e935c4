"""OpenAI's chat completion request, validated - every parameter honoured or refused with a 400 naming it
- and mapped explicitly onto the domain's ``ChatRequest`` and a service command.

Parsing raises ``BadRequest`` (or ``PromptTooLarge``) with a message a caller can act on.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from switchboard.domain.formats import (
    SchemaError,
    answered_calls,
    check_schema,
    unanswered_result,
    with_instruction,
    with_tools,
)
from switchboard.domain.requests import ChatRequest, Message, ResponseFormat, Tool, ToolCall, ToolUse
from switchboard.ports import ApiKey
from switchboard.service.commands import ChatCommand, Feedback
from switchboard.service.errors import BadRequest, PromptTooLarge

AUTO_MODELS = {"auto", "switchboard", ""}


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    type: str
    text: str | None = None


class ApiFunctionCall(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    name: str = Field(min_length=1, max_length=64)
    arguments: str


class ApiToolCall(BaseModel):
    """A tool call of an earlier assistant turn, sent back with the conversation."""

    model_config = ConfigDict(extra="ignore", strict=True)

    id: str = Field(min_length=1, max_length=128)
    type: Literal["function"] = "function"
    function: ApiFunctionCall


class ApiMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[ApiToolCall] | None = None  # assistant turns that called tools
    tool_call_id: str | None = Field(default=None, max_length=128)  # tool turns: the call answered

    @model_validator(mode="after")
    def _shape(self) -> ApiMessage:
        if self.tool_calls and self.role != "assistant":
            raise BadRequest("only assistant messages carry tool_calls", param="messages")
        if self.role == "tool" and not self.tool_call_id:
            raise BadRequest("a tool message needs the tool_call_id it answers", param="messages")
        if self.content is None and not self.tool_calls:
            raise BadRequest(f"a {self.role} message needs content", param="messages")
        return self

    def to_domain(self) -> Message:
        """The turn as the models see it: tool calls in Switchboard's tool-call protocol (the JSON the
        model would have answered with), a tool's result as a user turn naming its call."""
        if self.tool_calls:
            calls = []
            for call in self.tool_calls:
                try:
                    arguments = json.loads(call.function.arguments)
                except ValueError:
                    raise BadRequest(f"tool call {call.id}: function.arguments is not JSON", param="messages") from None
                calls.append(ToolCall(id=call.id, name=call.function.name, arguments=arguments))
            protocol = json.dumps({"tool_calls": [{"name": c.name, "arguments": c.arguments} for c in calls]},
                                  ensure_ascii=False)
            text = self.text().strip()  # what the assistant said beside its calls stays in the conversation
            return Message(role="assistant", content=f"{text}\n{protocol}" if text else protocol, tool_calls=calls,
                           raw=text)
        if self.role == "tool":
            return Message(role="user", content=f"Result of tool call {self.tool_call_id}:\n{self.text()}",
                           tool_call_id=self.tool_call_id, raw=self.text())
        return Message(role="system" if self.role == "developer" else self.role, content=self.text())

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        unsupported = {p.type for p in self.content if p.type != "text"}
        if unsupported:
            raise BadRequest(f"unsupported content part type(s): {sorted(unsupported)}; only text is supported")
        return "\n".join(p.text or "" for p in self.content)


class SwitchboardOptions(BaseModel):
    """Switchboard's extensions of the OpenAI request (send as ``extra_body={"switchboard": {...}}``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    max_cost_usd: float | None = Field(default=None, ge=0.0)
    quality: float | None = Field(default=None, ge=0.0, le=1.0)
    profile: str | None = Field(default=None, min_length=1, max_length=64)
    # requests of one session start with the model that answered its last accepted request
    session: str | None = Field(default=None, min_length=1, max_length=256)
    # a pinned model's answer is judged (and can come back verified) only when asked: its judges are calls
    # the caller did not choose. The cascade always judges - its judges decide escalation.
    verify: bool | None = None


# OpenAI request parameters Switchboard accepts only at the value that changes nothing (what SDKs and
# frameworks send by default); any other value is refused with a 400 naming the parameter - never dropped.
NEUTRAL_PARAMETERS: dict[str, tuple[Any, ...]] = {
    "top_p": (1, 1.0), "presence_penalty": (0, 0.0), "frequency_penalty": (0, 0.0), "logit_bias": ({},),
    "logprobs": (False,), "top_logprobs": (0,), "functions": ([],), "store": (False,),
    "metadata": ({},), "service_tier": ("auto", "default"), "seed": (),
    "modalities": (["text"],), "reasoning_effort": (), "prediction": (), "audio": (), "web_search_options": (),
    "function_call": ("none",),
}
WHY_REFUSED = {
    "functions": "the deprecated functions parameter is not supported; use tools",
    "function_call": "the deprecated function_call parameter is not supported; use tool_choice",
    "logprobs": "token log-probabilities of a cascade's answer are not returned",
    "top_logprobs": "token log-probabilities of a cascade's answer are not returned",
    "seed": "not every provider of the cascade can honour a seed",
}


class JsonSchemaParam(BaseModel):
    """``response_format.json_schema``: the schema the answer must be valid against."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = Field(default=None, max_length=2000)
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None  # every answer is checked against the schema: strict is always honoured


class ResponseFormatParam(BaseModel):
    """OpenAI's ``response_format``: text (the default), a JSON object, or JSON valid against a schema."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaParam | None = None

    @model_validator(mode="after")
    def _schema_with_its_type(self) -> ResponseFormatParam:
        if (self.type == "json_schema") != (self.json_schema is not None):
            raise BadRequest("response_format.json_schema is given with, and only with, type \"json_schema\"",
                             param="response_format")
        if self.json_schema is not None:
            try:
                check_schema(self.json_schema.schema_)
            except SchemaError as exc:
                raise BadRequest(f"response_format.json_schema.schema is not a valid JSON Schema: {exc}"[:300],
                                 param="response_format") from None
        return self

    def to_domain(self) -> ResponseFormat | None:
        if self.type == "text":
            return None
        if self.json_schema is None:
            return ResponseFormat(type="json_object")
        return ResponseFormat.model_validate({"type": "json_schema", "name": self.json_schema.name,
                                              "schema": self.json_schema.schema_})


class ApiFunction(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = Field(default=None, max_length=4000)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None  # every call's arguments are checked against the schema: always strict


class ApiTool(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["function"]
    function: ApiFunction


class NamedToolChoice(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["function"]
    function: dict[Literal["name"], str]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion request. Every parameter is honoured or refused (400 naming it)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str = "auto"
    messages: list[ApiMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=4096)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    n: int | None = Field(default=None, ge=1)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    user: str | None = Field(default=None, max_length=256)
    # a session's requests stay on one model while its answers are accepted (its prompt cache stays warm)
    prompt_cache_key: str | None = Field(default=None, min_length=1, max_length=256)
    response_format: ResponseFormatParam | None = None
    tools: list[ApiTool] | None = Field(default=None, max_length=64)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    switchboard: SwitchboardOptions = Field(default_factory=SwitchboardOptions)
    # POST /v1/route only: run as a job (202 and a job id; GET /v1/jobs/{id}) for cascades longer than the
    # API's integration timeout
    async_: bool | None = Field(default=None, alias="async")

    @model_validator(mode="before")
    @classmethod
    def _known_parameters(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        honoured = {f.alias or name for name, f in cls.model_fields.items()}
        for name in list(data):
            if name in honoured:
                continue
            value = data[name]
            if name in NEUTRAL_PARAMETERS:
                if value is None or any(value == v and type(value) is type(v) for v in NEUTRAL_PARAMETERS[name]):
                    del data[name]  # the no-op value: nothing to honour
                    continue
                why = WHY_REFUSED.get(name, "only its default value is supported")
                raise BadRequest(f"parameter '{name}' = {json.dumps(value)[:80]} is not supported: {why}",
                                 param=name)
            raise BadRequest(f"unknown parameter '{name}'", param=name)
        return data

    @field_validator("stop")
    @classmethod
    def _stop_sequences(cls, stop: str | list[str] | None) -> str | list[str] | None:
        sequences = [stop] if isinstance(stop, str) else (stop or [])
        if len(sequences) > 4 or any(not s for s in sequences):
            raise ValueError("stop takes up to 4 non-empty sequences")
        return stop

    @field_validator("n")
    @classmethod
    def _single_choice(cls, n: int | None) -> int | None:
        if n not in (None, 1):
            raise ValueError("only n=1 is supported")
        return n

    @model_validator(mode="after")
    def _tools_are_usable(self) -> ChatCompletionRequest:
        names = [t.function.name for t in self.tools or []]
        if len(set(names)) != len(names):
            raise BadRequest("tools have duplicate names", param="tools")
        for tool in self.tools or []:
            try:
                check_schema(tool.function.parameters or {})
            except SchemaError as exc:
                raise BadRequest(f"tools: {tool.function.name}.parameters is not a valid JSON Schema: {exc}"[:300],
                                 param="tools") from None
        choice = self.tool_choice
        if isinstance(choice, NamedToolChoice) and choice.function.get("name") not in names:
            raise BadRequest(f"tool_choice names {choice.function.get('name')!r}, which is not in tools",
                             param="tool_choice")
        if choice in ("auto", "required") and not names:
            raise BadRequest(f"tool_choice {choice!r} needs tools", param="tool_choice")
        if self.tool_use() is not None and self.response_format is not None and self.response_format.type != "text":
            raise BadRequest("response_format cannot be combined with tools (a tool call is JSON already)",
                             param="response_format")
        return self

    def tool_use(self) -> ToolUse | None:
        """The tools the models may call, or None (no tools, or ``tool_choice`` "none")."""
        if not self.tools or self.tool_choice == "none":
            return None
        choice = self.tool_choice
        tools = [Tool(name=t.function.name, description=t.function.description or "",
                      parameters=t.function.parameters or {"type": "object", "properties": {}}) for t in self.tools]
        if isinstance(choice, NamedToolChoice):
            return ToolUse(tools=tools, choice="required", named=choice.function["name"],
                           parallel=self.parallel_tool_calls is not False)
        return ToolUse(tools=tools, choice="required" if choice == "required" else "auto",
                       parallel=self.parallel_tool_calls is not False)

    @model_validator(mode="after")
    def _stream_options_need_a_stream(self) -> ChatCompletionRequest:
        if self.stream_options is not None and not self.stream:
            raise BadRequest("stream_options is only allowed with stream=true", param="stream_options")
        return self

    def pinned_model(self) -> str | None:
        return None if self._auto() is not None else self.model

    def _auto(self) -> tuple[str | None] | None:
        """(profile,) when the model routes (``auto`` or ``auto:<profile>``), None when it pins a model."""
        name = self.model.strip()
        if name.lower() in AUTO_MODELS:
            return (None,)
        head, _, tail = name.partition(":")
        if head.lower() in AUTO_MODELS and tail:
            return (tail,)
        return None

    def profile(self) -> str | None:
        """The dial profile asked for: ``model="auto:<profile>"`` or ``switchboard.profile``."""
        auto = self._auto()
        by_name = auto[0] if auto else None
        if by_name and self.switchboard.profile and by_name != self.switchboard.profile:
            raise BadRequest(f"model asks for profile '{by_name}' but switchboard.profile is "
                             f"'{self.switchboard.profile}'; give one")
        return by_name or self.switchboard.profile

    def to_domain(self, max_prompt_chars: int) -> ChatRequest:
        """Map onto the domain request; raises ValueError with a user-facing message when unusable."""
        messages = [message.to_domain() for message in self.messages]
        if not any(m.role == "user" and m.tool_call_id is None and m.content.strip() for m in messages):
            raise BadRequest("messages must contain a non-empty user message")
        orphan = unanswered_result(messages)
        if orphan is not None:
            raise BadRequest(f"the tool message for tool_call_id {orphan!r} follows no assistant tool call with that id",
                             param="messages")
        total = sum(len(m.content) for m in messages)
        if total > max_prompt_chars:
            raise PromptTooLarge(f"prompt is {total} characters; the limit is {max_prompt_chars}")
        fmt = self.response_format.to_domain() if self.response_format is not None else None
        use = self.tool_use()
        if use is not None:
            use = use.model_copy(update={"answered": answered_calls(messages)})
        return ChatRequest(messages=with_tools(with_instruction(messages, fmt), use), response_format=fmt,
                           tool_use=use, max_tokens=self.max_completion_tokens or self.max_tokens or 256,
                           temperature=self.temperature if self.temperature is not None else 0.0,
                           max_cost_usd=self.switchboard.max_cost_usd, quality=self.switchboard.quality,
                           profile=self.profile(), user=self.user, session=self.session(),
                           verify=self.switchboard.verify is True,
                           stop=[self.stop] if isinstance(self.stop, str) else list(self.stop or []))

    def session(self) -> str | None:
        """The session the request belongs to, for a conversation's model (``domain.affinity``):
        ``switchboard.session``, else ``prompt_cache_key``, else ``user``."""
        for kind, value in (("session", self.switchboard.session), ("prompt_cache_key", self.prompt_cache_key),
                            ("user", self.user)):
            if value:
                return f"{kind}:{value}"
        return None

    def command(self, caller: ApiKey | None, max_prompt_chars: int, principal: str | None = None) -> ChatCommand:
        """The request as the services take it: mapped onto the domain, the model it pins (None: route),
        its caller (and, without a key of ours, the identity API Gateway authenticated)."""
        pinned = self.pinned_model()
        if pinned is None and self.switchboard.verify is False:
            raise BadRequest("switchboard.verify = false needs a pinned model: the cascade's judges decide when "
                             "to escalate", param="switchboard.verify")
        return ChatCommand(request=self.to_domain(max_prompt_chars), pinned=pinned, caller=caller, principal=principal)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    trace_id: str = Field(min_length=1, max_length=128)
    score: float = Field(ge=0.0, le=1.0)
    comment: str | None = Field(default=None, max_length=2000)

    def feedback(self) -> Feedback:
        return Feedback(trace_id=self.trace_id, score=self.score, comment=self.comment)
