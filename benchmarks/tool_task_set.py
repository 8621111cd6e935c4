"""Tool tasks for benchmarks/tool_tasks.py, written for this benchmark (not from any evaluation set).

Three tools whose answers a model cannot know: ``get_weather`` (invented conditions), ``lookup_age``
(invented people) and ``calculator`` (exact arithmetic). 54 tasks need a tool - weather, lookup,
arithmetic, and multi-step tasks that need two calls - and 22 need none, where any call is wrong.
A task passes when the tools it needs were called with the right arguments and the final text answer
states the value only the tools know (``expect``); a no-tool task passes when the model answers in text.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field
from typing import Any

WEATHER = {"paris": (21, "cloudy"), "oslo": (-3, "snow"), "lisbon": (26, "sunny"), "tokyo": (17, "rain"),
           "cairo": (34, "clear"), "lima": (19, "fog"), "nairobi": (23, "showers"), "reykjavik": (4, "wind"),
           "madrid": (29, "sunny"), "berlin": (12, "drizzle"), "toronto": (8, "overcast"), "sydney": (24, "clear"),
           "mumbai": (31, "humid"), "dublin": (11, "rain"), "denver": (6, "hail")}
AGES = {"mira okonkwo": 47, "tomas varga": 31, "lena fischer": 25, "kofi mensah": 62, "ana sousa": 38,
        "ravi iyer": 54, "jonas berg": 19, "sara haddad": 41, "pablo ruiz": 73, "yuki tanaka": 29,
        "olga petrova": 66, "liam walsh": 35, "noor rahman": 22, "ines moreau": 58, "chen wei": 44}

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city: temperature in Celsius and conditions",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}},
                       "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "lookup_age", "description": "Look up a person's age in the customer records",
        "parameters": {"type": "object", "properties": {"name": {"type": "string", "description": "Full name"}},
                       "required": ["name"]}}},
    {"type": "function", "function": {
        "name": "calculator", "description": "Evaluate an arithmetic expression exactly (+ - * / and parentheses)",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}},
                       "required": ["expression"]}}},
]

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.USub: operator.neg, ast.UAdd: operator.pos}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.operand))
    raise ValueError("not arithmetic")


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def run_tool(name: str, arguments: Any) -> str:
    """What the tool answers (an error text for arguments it cannot use, as a real tool would)."""
    args = arguments if isinstance(arguments, dict) else {}
    if name == "get_weather":
        found = WEATHER.get(str(args.get("city", "")).strip().lower().split(",")[0])
        return f"{found[0]} °C, {found[1]}" if found else "error: unknown city"
    if name == "lookup_age":
        age = AGES.get(str(args.get("name", "")).strip().lower())
        return str(age) if age is not None else "error: no such person"
    if name == "calculator":
        try:
            return number(_evaluate(ast.parse(str(args.get("expression", "")).replace("^", "**"), mode="eval")))
        except (ValueError, SyntaxError, ZeroDivisionError, TypeError):
            return "error: not an arithmetic expression"
    return "error: unknown tool"


@dataclass(frozen=True)
class Task:
    id: str
    kind: str  # weather, lookup, arithmetic, multi_step, no_tool
    prompt: str
    needs: tuple[str, ...] = ()  # tool names that must be called
    expect: tuple[str, ...] = ()  # each must appear in the final answer (any of a "|"-separated group)
    args: dict[str, str] = field(default_factory=dict)  # argument values a call must carry (lower-cased)


def _title(name: str) -> str:
    return " ".join(part.capitalize() for part in name.split())


def tasks() -> list[Task]:
    out: list[Task] = []
    weather_prompts = ["What's the weather like in {c} right now?", "How warm is it in {c} today?",
                       "Is it raining in {c} at the moment?"]
    for i, city in enumerate(WEATHER):
        temp, sky = WEATHER[city]
        out.append(Task(f"weather-{i:02d}", "weather", weather_prompts[i % 3].format(c=_title(city)),
                        ("get_weather",), (str(temp),), {"city": city}))
    lookup_prompts = ["How old is {p}?", "What age do our records give for {p}?", "Tell me {p}'s age."]
    for i, person in enumerate(AGES):
        out.append(Task(f"lookup-{i:02d}", "lookup", lookup_prompts[i % 3].format(p=_title(person)),
                        ("lookup_age",), (str(AGES[person]),), {"name": person}))
    sums = ["4821 * 37", "98765 - 43219", "7.5 * 1234", "(318 + 977) * 12", "65536 / 128", "1234567 + 7654321",
            "999 * 999", "(45 - 17) * (23 + 9)", "3.14159 * 42", "88888 / 11", "602 * 15 - 77", "12345 * 6789"]
    for i, expression in enumerate(sums):
        value = run_tool("calculator", {"expression": expression})
        out.append(Task(f"arith-{i:02d}", "arithmetic", f"Use the calculator: what is {expression}?",
                        ("calculator",), (value,)))
    people = list(AGES)
    for i in range(4):
        a, b = people[2 * i], people[2 * i + 1]
        out.append(Task(f"multi-age-{i}", "multi_step", f"How many years older is {_title(a)} than {_title(b)}? "
                        "Look up both.", ("lookup_age",), (str(abs(AGES[a] - AGES[b])),)))
    cities = list(WEATHER)
    for i in range(3):
        a, b = cities[2 * i], cities[2 * i + 1]
        warmer = a if WEATHER[a][0] > WEATHER[b][0] else b
        out.append(Task(f"multi-warmer-{i}", "multi_step", f"Which is warmer right now, {_title(a)} or {_title(b)}?",
                        ("get_weather",), (_title(warmer),)))
    for i, city in enumerate(cities[6:10]):
        fahrenheit = number(WEATHER[city][0] * 9 / 5 + 32)
        out.append(Task(f"multi-fahrenheit-{i}", "multi_step",
                        f"What is the temperature in {_title(city)} in Fahrenheit? Get the weather, then convert it "
                        "with the calculator.", ("get_weather", "calculator"), (fahrenheit,)))
    for i, prompt in enumerate([
        "What is the capital of Japan?", "Write a haiku about autumn leaves.", "What does HTTP stand for?",
        "Translate 'good morning' into Spanish.", "Who painted the Mona Lisa?",
        "Explain in one sentence what a Python list comprehension is.", "What is the boiling point of water at sea "
        "level in Celsius?", "Name three primary colours.", "What is a synonym for 'happy'?",
        "Write a Python function that reverses a string.", "How many days are there in a leap year?",
        "What is the opposite of 'ancient'?", "Summarise the plot of Romeo and Juliet in one sentence.",
        "What does a thermometer measure?", "In general terms, what causes rain?", "What is 2 + 2?",
        "Give me a tip for remembering names.", "What is the plural of 'mouse'?", "What is the chemical formula of "
        "water?", "Why do people ask for someone's age on forms?", "Say hello in French.",
        "What is the difference between weather and climate?"]):
        out.append(Task(f"none-{i:02d}", "no_tool", prompt))
    return out
