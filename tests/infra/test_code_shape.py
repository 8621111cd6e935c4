"""The shape the code keeps: one job per module and per class. A module past 400 lines, a class past 15
methods or an ``__init__`` past 10 parameters has two jobs (split it along the seam before adding the next
feature); a Lambda handler is an adapter of at most 60 lines; and routes are spelled once, in the route
table (``switchboard.http.routes``), never in ``functions/`` or ``infra/``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from switchboard.http.routes import ROUTES
from tests.infra.support import ROOT

SRC = sorted((ROOT / "src" / "switchboard").rglob("*.py"))
HANDLERS = sorted((ROOT / "functions").glob("*/handler.py"))
MAX_MODULE_LINES, MAX_METHODS, MAX_INIT_PARAMETERS, MAX_HANDLER_LINES = 400, 15, 10, 60


def _classes(path: Path) -> list[ast.ClassDef]:
    return [n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.ClassDef)]


@pytest.mark.parametrize("path", SRC, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_has_one_job(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.name} has {lines} lines: split it by responsibility"
    for cls in _classes(path):
        methods = [n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        assert len(methods) <= MAX_METHODS, f"{cls.name} has {len(methods)} methods"
        for init in (m for m in methods if m.name == "__init__"):
            a = init.args
            count = len(a.posonlyargs) + len(a.args) - 1 + len(a.kwonlyargs) + bool(a.vararg) + bool(a.kwarg)
            assert count <= MAX_INIT_PARAMETERS, f"{cls.name}.__init__ takes {count} parameters"


@pytest.mark.parametrize("path", HANDLERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_handler_is_a_thin_adapter(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_HANDLER_LINES


def _strings(path: Path) -> list[str]:
    """The string constants of a module, its docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


@pytest.mark.parametrize("path", [*sorted((ROOT / "functions").rglob("*.py")), *sorted((ROOT / "infra").rglob("*.py")),
                                  ROOT / "app.py"], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_route_is_spelled_outside_the_route_table(path: Path) -> None:
    # a route's path, as the resolver or API Gateway's resources write it ("health" alone is a word too)
    spellings = {s for r in ROUTES for s in (r.path, r.resource_path, r.resolver_path) if "/" in s}
    found = [s for s in _strings(path) if any(route in s for route in spellings)]
    assert not found, f"{path.name} spells routes {found}: derive them from switchboard.http.routes.ROUTES"
