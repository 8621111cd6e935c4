"""HTTP API models: the OpenAI-compatible chat completion and the native route call, mapped explicitly
onto the domain's ChatRequest, and the final cascade state mapped back onto responses.

Parsing raises ``BadRequest`` (or ``PromptTooLarge``) with a message a caller can act on; the status of
each error is decided in ``service.errors``.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from switchboard.domain.formats import (
    SchemaError,
    check_answer,
    check_schema,
    check_tool_answer,
    with_instruction,
    with_tools,
)
from switchboard.domain.requests import ChatRequest, Message, ResponseFormat, Tool, ToolUse
from switchboard.domain.state import Candidate, CascadeState
from switchboard.ports import Trace
from switchboard.service.errors import BadRequest, CascadeFailed, PromptTooLarge, validation_message

Model = TypeVar("Model", bound=BaseModel)

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
                calls.append({"name": call.function.name, "arguments": arguments})
            protocol = json.dumps({"tool_calls": calls}, ensure_ascii=False)
            text = self.text().strip()  # what the assistant said beside its calls stays in the conversation
            return Message(role="assistant", content=f"{text}\n{protocol}" if text else protocol)
        if self.role == "tool":
            return Message(role="user", content=f"Result of tool call {self.tool_call_id}:\n{self.text()}")
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
        if not any(m.role == "user" and m.content.strip() for m in messages):
            raise BadRequest("messages must contain a non-empty user message")
        total = sum(len(m.content) for m in messages)
        if total > max_prompt_chars:
            raise PromptTooLarge(f"prompt is {total} characters; the limit is {max_prompt_chars}")
        fmt = self.response_format.to_domain() if self.response_format is not None else None
        use = self.tool_use()
        return ChatRequest(messages=with_tools(with_instruction(messages, fmt), use), response_format=fmt,
                           tool_use=use, max_tokens=self.max_completion_tokens or self.max_tokens or 256,
                           temperature=self.temperature if self.temperature is not None else 0.0,
                           max_cost_usd=self.switchboard.max_cost_usd, quality=self.switchboard.quality,
                           profile=self.profile(), user=self.user,
                           stop=[self.stop] if isinstance(self.stop, str) else list(self.stop or []))


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    trace_id: str = Field(min_length=1, max_length=128)
    score: float = Field(ge=0.0, le=1.0)
    comment: str | None = Field(default=None, max_length=2000)


def switchboard_extension(state: CascadeState) -> dict[str, Any]:
    """What Switchboard did: the route, every tier it ran with each judge's verdict, the decision, the cost."""
    decision = state.decision
    answer = answer_of(state)
    return {
        "trace_id": state.request_id,
        "route": state.plan.route,
        "profile": state.plan.profile,
        "point": state.plan.point,
        "category": state.plan.category,
        "similarity": state.plan.similarity,
        "judge_region": state.plan.judge_region,
        "answered_by": {"model": answer.model, "tier": decision.answer_tier} if answer and decision else None,
        "decision": decision.model_dump() if decision else None,
        "verified": bool(decision and decision.verified),
        "confidence": decision.confidence if decision else None,
        "cost_usd": round(state.spent_usd, 10),
        "tiers": [
            {
                "tier": a.tier,
                "model": a.model,
                "status": "rejected" if a.rejected else "answered" if a.candidate else "failed",
                "error": a.error or a.rejected,
                "confidence": a.confidence,
                "cost_usd": round(a.cost_usd, 10),
                "latency_ms": round(a.candidate.latency_ms, 1) if a.candidate else None,
                "answer_model": a.answer_model,
                "verdicts": [v.model_dump(exclude={"answer"}) for v in a.verdicts],
            }
            for a in state.attempts
        ],
        "planned_tiers": [t.model for t in state.plan.tiers],
    }


class SseWriter:
    """OpenAI's chat completion chunks (server-sent events) of one response: a role chunk, content (or
    tool-call) chunks, a final chunk with the finish reason and the ``switchboard`` object, an optional
    usage chunk, ``[DONE]``; an ``error`` event when the stream must end in failure after it began."""

    def __init__(self, request_id: str, model: str) -> None:
        self.base = {"id": f"chatcmpl-{request_id}", "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": model}

    def event(self, choices: list[dict[str, Any]], **extra: Any) -> str:
        return "data: " + json.dumps({**self.base, "choices": choices, **extra}, separators=(",", ":")) + "\n\n"

    def head(self) -> str:
        return self.event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])

    def delta(self, text: str) -> str:
        return self.event([{"index": 0, "delta": {"content": text}, "finish_reason": None}])

    def body(self, message: dict[str, Any]) -> str:
        if message.get("tool_calls"):
            calls = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
            return self.event([{"index": 0, "delta": {"tool_calls": calls}, "finish_reason": None}])
        return self.delta(message["content"])

    def tail(self, whole: dict[str, Any], include_usage: bool) -> str:
        self.base["model"] = whole["model"]
        out = self.event([{"index": 0, "delta": {}, "finish_reason": whole["choices"][0]["finish_reason"]}],
                         switchboard=whole["switchboard"])
        if include_usage:
            out += self.event([], usage=whole["usage"])
        return out + DONE

    @staticmethod
    def error(exc: Exception) -> str:
        from switchboard.service.errors import http_error

        _, body = http_error(exc)
        return "data: " + json.dumps(body, separators=(",", ":")) + "\n\n" + DONE


DONE = "data: [DONE]\n\n"
KEEP_ALIVE = ": keep-alive\n\n"  # an SSE comment: clients ignore it, proxies see a live connection


def chat_completion_stream(state: CascadeState, include_usage: bool = False) -> str:
    """The answer as OpenAI's server-sent events (``stream=true``): a role chunk, the content, a final chunk
    with the finish reason and the ``switchboard`` object, an optional usage chunk, then ``[DONE]``.

    The cascade decides before anything is sent - an answer is streamed only once it has been accepted (or
    the cascade stopped), never tokens a judge may still reject - so the events follow each other at once;
    a client sees OpenAI's stream format and the verified answer."""
    whole = chat_completion_response(state)
    writer = SseWriter(state.request_id, whole["model"])
    return writer.head() + writer.body(whole["choices"][0]["message"]) + writer.tail(whole, include_usage)


def answer_of(state: CascadeState) -> Candidate | None:
    """The answer the decision returns: the answer of ``decision.answer_model`` (with fusion, possibly a
    judge's), else the answering tier's own candidate."""
    decision = state.decision
    if decision is None or decision.answer_tier is None:
        return None
    if decision.answer_model is not None and decision.answer_model in state.answers:
        return state.answers[decision.answer_model]
    for attempt in state.attempts:
        if attempt.tier == decision.answer_tier and attempt.candidate is not None:
            return attempt.candidate
    return None


def billed_usage(state: CascadeState) -> dict[str, int]:
    """OpenAI's ``usage`` for the whole cascade: the tokens of every call billed for this request - each
    tier's answer and every judge's calls (an answer reused within the request is counted once)."""
    prompt = completion = 0
    for attempt in state.attempts:
        if attempt.candidate is not None and not attempt.candidate.reused:
            prompt += attempt.candidate.usage.input_tokens
            completion += attempt.candidate.usage.output_tokens
        for verdict in attempt.verdicts:
            prompt += verdict.usage.input_tokens
            completion += verdict.usage.output_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def answer_message(state: CascadeState, candidate: Candidate) -> tuple[dict[str, Any], str]:
    """The assistant message returned and its finish reason: the answer's text; with a ``response_format``
    its JSON alone; with tools, OpenAI's ``tool_calls`` (or the text the model answered instead). The
    cascade never accepts an answer that fails its check, so the parse here succeeds."""
    finish = candidate.finish_reason if candidate.finish_reason in ("stop", "length") else "stop"
    request = state.request
    if request.tool_use is not None:
        parsed, why = check_tool_answer(candidate.text, request.tool_use)
        if parsed is None:  # pragma: no cover - the decide step rejects such answers
            raise CascadeFailed(state.request_id, f"the answer does not follow the tool-call protocol: {why}")
        if "content" in parsed:
            return {"role": "assistant", "content": parsed["content"]}, finish
        calls = [{"id": f"call_{state.request_id.replace('-', '')[:16]}_{i}", "type": "function",
                  "function": {"name": c["name"], "arguments": json.dumps(c["arguments"], ensure_ascii=False)}}
                 for i, c in enumerate(parsed["tool_calls"])]
        return {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"
    if request.response_format is None:
        return {"role": "assistant", "content": candidate.text}, finish
    text, why = check_answer(candidate.text, request.response_format)
    if text is None:  # pragma: no cover - the decide step rejects such answers
        raise CascadeFailed(state.request_id, f"the answer does not meet the response_format: {why}")
    return {"role": "assistant", "content": text}, finish


def chat_completion_response(state: CascadeState) -> dict[str, Any]:
    candidate = answer_of(state)
    if candidate is None:
        raise CascadeFailed(state.request_id, "the cascade produced no answer")
    message, finish_reason = answer_message(state, candidate)
    return {
        "id": f"chatcmpl-{state.request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": candidate.model,
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish_reason,
        }],
        "usage": billed_usage(state),
        "switchboard": {**switchboard_extension(state),
                        "answer_usage": {"prompt_tokens": candidate.usage.input_tokens,
                                         "completion_tokens": candidate.usage.output_tokens}},
    }


def job_response(trace: Trace, lost: bool = False) -> dict[str, Any]:
    """``GET /v1/jobs/{id}``: a job's status and, once it is done, its result (``/v1/route``'s body) or
    error. ``lost``: the job is past its deadline and no result was recorded."""
    created = trace.created_at
    body: dict[str, Any] = {"id": trace.trace_id, "object": "job", "created_at": created, "trace_id": trace.trace_id}
    if trace.status == "running" and not lost:
        return {**body, "status": "running"}
    if trace.status == "succeeded" and trace.state is not None:
        return {**body, "status": "succeeded", "result": route_response(trace.state)}
    why = ("the cascade stopped without recording a result" if lost
           else trace.error or "no model could answer; see the trace")
    return {**body, "status": "failed", "error": {"message": why, "type": "cascade_failed", "code": "cascade_failed"}}


def route_response(state: CascadeState) -> dict[str, Any]:
    """``POST /v1/route``: the answer with the full plan, every attempt and the decision."""
    response = chat_completion_response(state)
    message = response["choices"][0]["message"]
    return {"trace_id": state.request_id, "answer": message["content"], "tool_calls": message.get("tool_calls"),
            "model": response["model"], "switchboard": switchboard_extension(state),
            "plan": state.plan.model_dump(), "attempts": [a.model_dump() for a in state.attempts],
            "decision": state.decision.model_dump() if state.decision else None}


MAX_JSON_DEPTH = 32


def json_depth(text: str) -> int:
    """How deeply the JSON in ``text`` nests (strings skipped): checked before parsing, so a body nested
    thousands deep is a 400 instead of a recursion error."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_body(raw: str | None, base64_encoded: bool = False) -> dict[str, Any]:
    """The JSON object of a request body (as API Gateway delivers it), or ``BadRequest`` saying why not."""
    if raw is None or raw == "":
        raise BadRequest("request body is empty; send a JSON object")
    if base64_encoded:
        try:
            raw = base64.b64decode(raw).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("request body is not valid base64") from exc
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise BadRequest(f"request body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc.msg} at position {exc.pos}") from exc
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def parse(model: type[Model], body: dict[str, Any]) -> Model:
    """Validate ``body`` into ``model``; a validation error becomes ``BadRequest`` naming the fields."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors()
        param = ".".join(str(p) for p in errors[0]["loc"] if not isinstance(p, int) or p) if errors else None
        raise BadRequest(validation_message(exc), param=param or None) from exc


# The API's routes (method, path pattern); the router handler serves exactly these.
ROUTES = (("POST", "/v1/chat/completions"), ("POST", "/v1/messages"), ("POST", "/v1/route"), ("GET", "/v1/jobs/{job_id}"),
          ("GET", "/v1/traces/{trace_id}"), ("POST", "/v1/feedback"), ("GET", "/v1/models"), ("GET", "/health"),
          ("GET", "/openapi.json"))


def methods_for(path: str) -> list[str]:
    """The methods a path is served with (empty: no such path)."""
    parts = path.rstrip("/").split("/")
    out = []
    for method, pattern in ROUTES:
        expected = pattern.split("/")
        if len(expected) == len(parts) and all(e.startswith("{") or e == p for e, p in zip(expected, parts, strict=True)):
            out.append(method)
    return out
