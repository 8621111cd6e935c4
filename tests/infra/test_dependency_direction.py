"""Dependencies point one way (checked on the source AST, lazy imports included).

Layers of ``src/switchboard`` and what each may import of Switchboard (docs/architecture.md has the map):

    envvars  <- domain <- ports <- adapters  <- composition <- local, cli
                                 <- service  <-
    offline: everything but cli (it sits on top, like the CLI; the request path never imports it)
    functions/ (the Lambda handlers): composition, service, domain, ports - never an adapter directly

Infra imports the runtime, never the reverse; the domain imports no AWS SDK, HTTP client, ONNX runtime
or Powertools.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.infra.support import ROOT

SRC = ROOT / "src" / "switchboard"
INFRA_ONLY = {"aws_cdk", "infra", "cdk_nag", "constructs", "jsii"}
RUNTIME_FILES = [*sorted(SRC.rglob("*.py")), *sorted((ROOT / "functions").rglob("*.py"))]
LAYERED_FILES = [p for p in RUNTIME_FILES if p != SRC / "__init__.py"]  # the package marker imports nothing

ALLOWED: dict[str, set[str]] = {
    "envvars": set(),
    "domain": set(),
    "ports": {"domain"},
    "adapters": {"ports", "domain", "envvars"},
    "service": {"ports", "domain", "envvars"},
    "composition": {"service", "adapters", "ports", "domain", "envvars"},
    "local": {"composition", "service", "adapters", "ports", "domain", "envvars"},  # never offline
    "offline": {"local", "composition", "service", "adapters", "ports", "domain", "envvars"},
    "cli": {"local", "offline", "composition", "service", "adapters", "ports", "domain", "envvars"},
    "functions": {"composition", "service", "domain", "ports"},
}
DOMAIN_FORBIDDEN = {"boto3", "botocore", "httpx", "onnxruntime", "tokenizers", "aws_lambda_powertools",
                    "xllamacpp", "pandas", "sklearn", "os"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT / "src") if path.is_relative_to(ROOT / "src") else path.relative_to(ROOT)
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Fully qualified names of everything ``path`` imports (``from a import b`` gives ``a.b``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
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


@pytest.mark.parametrize("path", RUNTIME_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_runtime_module_does_not_import_infra_or_cdk(path: Path) -> None:
    assert {name.split(".")[0] for name in _imports(path)} & INFRA_ONLY == set()


@pytest.mark.parametrize("path", LAYERED_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_imports_only_the_layers_below_it(path: Path) -> None:
    own = _layer(_module_name(path))
    assert own in ALLOWED, f"{path} is in no known layer; add its package to ALLOWED and the map"
    reached = {_layer(name) for name in _imports(path)} - {None, own}
    assert reached <= ALLOWED[own], f"{own} may import {sorted(ALLOWED[own])}, not {sorted(reached - ALLOWED[own])}"


@pytest.mark.parametrize("path", sorted((SRC / "domain").rglob("*.py")), ids=lambda p: p.name)
def test_domain_module_does_no_io(path: Path) -> None:
    roots = {name.split(".")[0] for name in _imports(path)}
    assert roots & DOMAIN_FORBIDDEN == set()


def test_envvars_module_imports_nothing() -> None:
    # infra imports switchboard.envvars at synth time, where only the CDK toolchain is guaranteed.
    assert _imports(SRC / "envvars.py") == set()
