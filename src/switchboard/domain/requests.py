"""What a caller asks for, after the HTTP layer validated it: the conversation, its limits and
its structured-output constraints (a response format, tools).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]


class ToolCall(BaseModel):
    """A call an assistant turn made (``arguments`` parsed), kept so providers with a native tool form can
    render it as the model was trained to see it."""

    id: str
    name: str
    arguments: Any = Field(default_factory=dict)

    def key(self) -> str:
        """The call without its id (name and canonical arguments): two calls with one key are identical."""
        return json.dumps({"name": self.name, "arguments": self.arguments}, sort_keys=True, separators=(",", ":"))


class Message(BaseModel):
    """One turn. ``content`` is the turn as every model can read it (tool calls and results spelt in the
    tool-call protocol: ``domain.formats``). A provider that renders tools in a model's native form reads
    the structure instead: ``tool_calls`` (an assistant turn's calls), ``tool_call_id`` (this turn is the
    result of that call: a ``tool`` turn) and ``raw`` (the turn's own text, without the protocol's
    spelling or the instructions Switchboard added to a system turn; "" for a system turn Switchboard
    added)."""

    model_config = ConfigDict(extra="ignore")

    role: Role
    content: str
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    raw: str | None = None

    def native(self) -> dict[str, Any] | None:
        """The turn in OpenAI's chat shape for a native chat template (None: a turn Switchboard added)."""
        text = self.content if self.raw is None else self.raw
        if self.tool_call_id is not None:
            return {"role": "tool", "tool_call_id": self.tool_call_id, "content": text}
        if self.tool_calls:
            return {"role": "assistant", "content": text or None, "tool_calls": [
                {"id": c.id, "type": "function",
                 "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)}}
                for c in self.tool_calls]}
        if self.role == "system" and not text:
            return None
        return {"role": self.role, "content": text}


class ResponseFormat(BaseModel):
    """What the caller asked the answer to be (OpenAI's ``response_format``; ``domain.formats`` checks it).
    ``json_schema`` is the JSON Schema of a ``json_schema`` request."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["json_object", "json_schema"]
    name: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")

    def openai(self) -> dict[str, Any]:
        """The OpenAI ``response_format`` object (sent to providers that take one)."""
        if self.type == "json_object":
            return {"type": "json_object"}
        return {"type": "json_schema", "json_schema": {"name": self.name or "answer",
                                                        "schema": self.json_schema or {}}}


class Tool(BaseModel):
    """A function the caller offers the model (OpenAI's ``tools[].function``); ``parameters`` is the JSON
    Schema of its arguments."""

    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolUse(BaseModel):
    """The tools of a request and how they may be used: ``choice`` ``auto`` (a call or text) or
    ``required`` (at least one call); ``named``: the one tool every call must be to (``tool_choice`` naming
    a function - kept apart from the mode, since a tool may be called "auto"); ``parallel``: more than one
    call in an answer."""

    tools: list[Tool] = Field(min_length=1)
    choice: Literal["auto", "required"] = "auto"
    named: str | None = None
    parallel: bool = True
    # The calls already answered in the conversation (``ToolCall.key``): an answer repeating one is refused
    answered: list[str] = Field(default_factory=list)

    @property
    def text_allowed(self) -> bool:
        return self.choice == "auto" and self.named is None

    def describe(self) -> str:
        return f"function {self.named!r}" if self.named is not None else repr(self.choice)


class ChatRequest(BaseModel):
    """What a caller asks for, after validation (the HTTP layer maps its own schema onto this)."""

    messages: list[Message] = Field(min_length=1)
    max_tokens: int = Field(default=256, ge=1, le=4096)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_cost_usd: float | None = Field(default=None, ge=0.0)
    quality: float | None = Field(default=None, ge=0.0, le=1.0)
    # A pinned model's answer is judged only when the caller asks (``switchboard.verify``); a routed one always
    verify: bool = False
    profile: str | None = None  # a named operating point of the trained dial (economy, balanced, best)
    # Up to 4 sequences the answer ends before (OpenAI's ``stop``): the text is cut at the first one.
    stop: list[str] = Field(default_factory=list, max_length=4)
    user: str | None = Field(default=None, max_length=256)  # the caller's end-user id, kept in the trace
    key_id: str | None = None  # the API key the request came with (its public id), kept in the trace
    # JSON answers (``domain.formats``): every model is told, and an answer that fails the check is never
    # returned; the format's instruction is already in ``messages``
    response_format: ResponseFormat | None = None
    # Tools the model may call (``domain.formats``: a JSON protocol every model is told and constrained to
    # where it can be; every call's arguments are checked against the tool's schema before it is returned)
    tool_use: ToolUse | None = None
    # A conversation's model (``domain.affinity``): the session it belongs to (its key's id, and the
    # caller's ``switchboard.session``, ``prompt_cache_key`` or ``user``), and the request (trace) of the
    # stored response it continues (``previous_response_id``)
    session: str | None = Field(default=None, max_length=600)
    previous_trace: str | None = Field(default=None, max_length=128)

    @property
    def prompt(self) -> str:
        """The text the router embeds: the last user message (the question being asked now; a tool's
        result is not a question)."""
        for message in reversed(self.messages):
            if message.role == "user" and message.tool_call_id is None:
                return message.content
        return self.messages[-1].content
