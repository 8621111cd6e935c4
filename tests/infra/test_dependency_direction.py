"""Dependencies point one way, and no module imports itself in a circle (checked on the source AST, lazy
imports included; imports under ``if TYPE_CHECKING:`` are annotations only and left out).

Layers and what each may import of Switchboard (docs/architecture.md has the map):

    envvars, domain  <- ports <- adapters  <- composition <- local <- offline <- cli
                              <- service   <- http        <-
    functions/ (the Lambda handlers): http, composition, service, domain, ports - never an adapter
    infra/ (the CDK app): only the runtime modules in INFRA_MAY_IMPORT

The runtime never imports infra or the CDK; the domain imports no AWS SDK, HTTP client, ONNX runtime or
Powertools.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.infra.support import ROOT

SRC = ROOT / "src" / "switchboard"
INFRA_ONLY = {"aws_cdk", "infra", "cdk_nag", "constructs", "jsii"}
RUNTIME_FILES = [*sorted(SRC.rglob("*.py")), *sorted((ROOT / "functions").rglob("*.py"))]
INFRA_FILES = [*sorted((ROOT / "infra").rglob("*.py")), ROOT / "app.py"]
LAYERED_FILES = [p for p in RUNTIME_FILES if p != SRC / "__init__.py"]  # the package marker imports nothing

ALLOWED: dict[str, set[str]] = {
    "envvars": set(),
    "domain": set(),
    "ports": {"domain"},
    "adapters": {"ports", "domain", "envvars"},
    "service": {"ports", "domain", "envvars"},
    "http": {"service", "ports", "domain", "envvars"},
    "composition": {"service", "adapters", "ports", "domain", "envvars"},
    "local": {"http", "composition", "service", "adapters", "ports", "domain", "envvars"},  # never offline
    "offline": {"local", "http", "composition", "service", "adapters", "ports", "domain", "envvars"},
    "cli": {"local", "offline", "http", "composition", "service", "adapters", "ports", "domain", "envvars"},
    "functions": {"http", "composition", "service", "domain", "ports"},
}
# What the CDK app reads of the runtime, module by module: the environment variables' names it writes,
# the catalogue entry it validates and seeds, the route table it makes the API's resources from, the
# learned router's artifact check it runs at synth, and the functions' typed settings, which the deploy
# rehearsal (infra/rehearsal) holds each function's environment in the template to.
INFRA_MAY_IMPORT = {"switchboard.envvars", "switchboard.domain.catalog", "switchboard.domain.release",
                    "switchboard.http.routes", "switchboard.adapters.learned", "switchboard.service.settings"}
DOMAIN_FORBIDDEN = {"boto3", "botocore", "httpx", "onnxruntime", "tokenizers", "aws_lambda_powertools",
                    "xllamacpp", "pandas", "sklearn", "os"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT / "src") if path.is_relative_to(ROOT / "src") else path.relative_to(ROOT)
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Fully qualified names of everything ``path`` imports (``from a import b`` gives ``a.b``), except
    what it imports only for type checking."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and isinstance(node.test, ast.Name)
                   and node.test.id == "TYPE_CHECKING" for n in ast.walk(node)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "functions":
        return "functions"
    if parts[0] == "switchboard" and len(parts) > 1:
        return parts[1]
    return None


def test_there_are_runtime_modules_to_check() -> None:
    assert len(RUNTIME_FILES) > 10
    assert {_layer(_module_name(p)) for p in LAYERED_FILES} == set(ALLOWED)
    assert _imports(SRC / "__init__.py") == set()


def test_the_layers_form_no_cycle() -> None:
    done: set[str] = set()

    def visit(layer: str, path: tuple[str, ...]) -> None:
        assert layer not in path, f"layer cycle: {' -> '.join((*path, layer))}"
        for lower in ALLOWED[layer]:
            if lower not in done:
                visit(lower, (*path, layer))
        done.add(layer)

    for layer in ALLOWED:
        visit(layer, ())


@pytest.mark.parametrize("path", RUNTIME_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_runtime_module_does_not_import_infra_or_cdk(path: Path) -> None:
    assert {name.split(".")[0] for name in _imports(path)} & INFRA_ONLY == set()


@pytest.mark.parametrize("path", LAYERED_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_imports_only_the_layers_below_it(path: Path) -> None:
    own = _layer(_module_name(path))
    assert own in ALLOWED, f"{path} is in no known layer; add its package to ALLOWED and the map"
    reached = {_layer(name) for name in _imports(path)} - {None, own}
    assert reached <= ALLOWED[own], f"{own} may import {sorted(ALLOWED[own])}, not {sorted(reached - ALLOWED[own])}"


@pytest.mark.parametrize("path", INFRA_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_infra_imports_only_the_runtime_modules_it_reads(path: Path) -> None:
    runtime = {name for name in _imports(path) if name.split(".")[0] in ("switchboard", "functions")}
    allowed = {name for name in runtime if any(name == m or name.startswith(m + ".") for m in INFRA_MAY_IMPORT)}
    assert runtime == allowed, f"infra may import {sorted(INFRA_MAY_IMPORT)}, not {sorted(runtime - allowed)}"


def test_no_module_imports_itself_in_a_circle() -> None:
    modules = {_module_name(p): p for p in [*RUNTIME_FILES, *INFRA_FILES]}

    def targets(path: Path) -> set[str]:
        out = set()
        for name in _imports(path):  # ``from a import b``: the module a.b, else the module a
            out.add(name if name in modules else name.rsplit(".", 1)[0])
        return {m for m in out if m in modules}

    graph = {m: targets(p) - {m} for m, p in modules.items()}
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for nxt in sorted(graph[module]):
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join([*path[path.index(nxt):], nxt])}"
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("path", sorted((SRC / "domain").rglob("*.py")), ids=lambda p: p.name)
def test_domain_module_does_no_io(path: Path) -> None:
    roots = {name.split(".")[0] for name in _imports(path)}
    assert roots & DOMAIN_FORBIDDEN == set()


def test_envvars_module_imports_nothing() -> None:
    # infra imports switchboard.envvars at synth time, where only the CDK toolchain is guaranteed.
    assert _imports(SRC / "envvars.py") == set()
