"""The data side of the lean ASL executor (``local.asl_executor``): reference paths, payload templates, Choice
rules and error names, each parsed once from the definition.

Only what the Amazon States Language calls *reference paths* is supported - ``$``, ``$.a.b``, ``$['a']``,
``$.a[0]`` and the context object's ``$$...`` - because those address one node, so a path is a tuple of keys
and reading or writing it is a few dict lookups. (A full JSONPath library - jsonpath_ng, what moto's
interpreter uses - builds match objects on every read; that was a measurable share of each state's cost.) A
definition that needs more (wildcards, filters, intrinsic functions, JSONata) raises ``Unsupported`` at parse
time, and the local stack then runs it on moto's interpreter instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_MISSING = object()
_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]")


class Unsupported(ValueError):
    """The definition uses something the lean executor does not implement (the message names it)."""


class StatesError(Exception):
    """A States-language error: ``error`` is its name (what Retry and Catch match), ``cause`` its detail."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


@dataclass(frozen=True)
class Path:
    """A reference path: ``context`` for ``$$`` (the context object), ``keys`` the steps from the root."""

    text: str
    context: bool
    keys: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str) -> Path:
        if not isinstance(text, str) or not text.startswith("$"):
            raise Unsupported(f"not a reference path: {text!r}")
        context = text.startswith("$$")
        rest = text[2:] if context else text[1:]
        keys: list[str | int] = []
        at = 0
        while at < len(rest):
            match = _TOKEN.match(rest, at)
            if match is None:
                raise Unsupported(f"only reference paths ($.a.b, $['a'], $.a[0]) are supported, not {text!r}")
            name, quoted, index = match.groups()
            keys.append(name if name is not None else int(index) if index is not None
                        else re.sub(r"\\(.)", r"\1", quoted))
            at = match.end()
        return cls(text, context, tuple(keys))

    def find(self, document: Any) -> Any:
        """The node the path names, or ``_MISSING``."""
        node = document
        for key in self.keys:
            if isinstance(key, int):
                if not isinstance(node, list) or key >= len(node):
                    return _MISSING
            elif not isinstance(node, dict) or key not in node:
                return _MISSING
            node = node[key]
        return node

    def get(self, document: Any) -> Any:
        node = self.find(document)
        if node is _MISSING:
            raise StatesError("States.Runtime", f"the JSONPath {self.text} could not be found in the input")
        return node

    def put(self, document: Any, value: Any) -> Any:
        """``document`` with ``value`` at this path (ResultPath): a new document sharing every node off the
        path, so the input is never changed in place; missing objects on the way are created."""
        if self.context:
            raise Unsupported(f"a result cannot be written to the context object ({self.text})")
        return _put(document, self.keys, value, self.text)


def _put(node: Any, keys: tuple[str | int, ...], value: Any, text: str) -> Any:
    if not keys:
        return value
    key, rest = keys[0], keys[1:]
    if isinstance(key, int):
        if not isinstance(node, list) or key >= len(node):
            raise StatesError("States.Runtime", f"the ResultPath {text} names no element of the input")
        items = list(node)
        items[key] = _put(node[key], rest, value, text)
        return items
    if not isinstance(node, dict):
        raise StatesError("States.Runtime", f"the ResultPath {text} cannot be applied to a non-object input")
    fields = dict(node)
    fields[key] = _put(node.get(key, {}), rest, value, text)
    return fields


class Template:
    """A payload template (Parameters, ItemSelector, ResultSelector): keys ending in ``.$`` take the value at
    a reference path of the input (``$``) or of the context object (``$$``); everything else is literal."""

    def __init__(self, spec: Any, where: str) -> None:
        self.where = where
        self.uses_context = False
        self._build = self._compile(spec)

    def _compile(self, spec: Any) -> Callable[[Any, Any], Any]:
        if isinstance(spec, dict):
            parts: list[tuple[str, Callable[[Any, Any], Any]]] = []
            for key, value in spec.items():
                if key.endswith(".$"):
                    if not isinstance(value, str) or value.startswith("States."):
                        raise Unsupported(f"{self.where}: {key}: intrinsic functions are not supported")
                    path = Path.parse(value)
                    self.uses_context |= path.context
                    parts.append((key[:-2], _reader(path)))
                else:
                    parts.append((key, self._compile(value)))
            return lambda data, context: {k: build(data, context) for k, build in parts}
        if isinstance(spec, list):
            items = [self._compile(value) for value in spec]
            return lambda data, context: [build(data, context) for build in items]
        return lambda data, context: spec

    def render(self, data: Any, context: Any) -> Any:
        return self._build(data, context)


def _reader(path: Path) -> Callable[[Any, Any], Any]:
    if path.context:
        return lambda data, context: path.get(context)
    return lambda data, context: path.get(data)


_NUMBER = (int, float)
_COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "StringEquals": lambda v, x: isinstance(v, str) and v == x,
    "StringLessThan": lambda v, x: isinstance(v, str) and v < x,
    "StringGreaterThan": lambda v, x: isinstance(v, str) and v > x,
    "StringLessThanEquals": lambda v, x: isinstance(v, str) and v <= x,
    "StringGreaterThanEquals": lambda v, x: isinstance(v, str) and v >= x,
    "BooleanEquals": lambda v, x: isinstance(v, bool) and v == x,
    "NumericEquals": lambda v, x: _numeric(v) and v == x,
    "NumericLessThan": lambda v, x: _numeric(v) and v < x,
    "NumericGreaterThan": lambda v, x: _numeric(v) and v > x,
    "NumericLessThanEquals": lambda v, x: _numeric(v) and v <= x,
    "NumericGreaterThanEquals": lambda v, x: _numeric(v) and v >= x,
    "IsNull": lambda v, x: (v is None) == x,
    "IsBoolean": lambda v, x: isinstance(v, bool) == x,
    "IsString": lambda v, x: isinstance(v, str) == x,
    "IsNumeric": lambda v, x: _numeric(v) == x,
}


def _numeric(value: Any) -> bool:
    return isinstance(value, _NUMBER) and not isinstance(value, bool)


class Rule:
    """One Choice rule (a comparison on ``Variable``, or ``And``/``Or``/``Not`` of rules)."""

    def __init__(self, spec: dict, where: str) -> None:
        extra = set(spec) - {"Variable", "Next", "Comment", "And", "Or", "Not", "IsPresent", *_COMPARATORS}
        if extra:
            raise Unsupported(f"{where}: Choice rule field(s) {sorted(extra)} are not supported")
        self.next: str | None = spec.get("Next")
        if "And" in spec or "Or" in spec:
            kind = "And" if "And" in spec else "Or"
            self._rules = [Rule(rule, where) for rule in spec[kind]]
            self._test: Callable[[Any], bool] = (
                (lambda data: all(r.matches(data) for r in self._rules)) if kind == "And"
                else (lambda data: any(r.matches(data) for r in self._rules)))
            return
        if "Not" in spec:
            inner = Rule(spec["Not"], where)
            self._test = lambda data: not inner.matches(data)
            return
        path = Path.parse(spec["Variable"]) if "Variable" in spec else None
        ops = [op for op in (*_COMPARATORS, "IsPresent") if op in spec]
        if path is None or len(ops) != 1:
            raise Unsupported(f"{where}: a Choice rule needs a Variable and one comparison")
        op, operand = ops[0], spec[ops[0]]
        if op == "IsPresent":
            self._test = lambda data: (path.find(data) is not _MISSING) == operand
            return
        compare = _COMPARATORS[op]
        self._test = lambda data: compare(path.get(data), operand)

    def matches(self, data: Any) -> bool:
        return self._test(data)


def error_matches(names: list[str], error: str) -> bool:
    """Whether a Retry or Catch's ``ErrorEquals`` covers ``error``: ``States.ALL`` covers every error but
    ``States.Runtime``; ``States.TaskFailed`` every error but a timeout and ``States.Runtime``."""
    for name in names:
        if name == error:
            return True
        if name == "States.ALL" and error != "States.Runtime":
            return True
        if name == "States.TaskFailed" and error not in ("States.Timeout", "States.Runtime"):
            return True
    return False
