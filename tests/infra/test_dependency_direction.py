"""Dependencies point one way: infra imports the runtime, never the reverse (checked on the source AST)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.infra.support import ROOT

INFRA_ONLY = {"aws_cdk", "infra", "cdk_nag", "constructs", "jsii"}
RUNTIME_FILES = [*sorted((ROOT / "src" / "switchboard").rglob("*.py")),
                 *sorted((ROOT / "functions").rglob("*.py"))]


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_there_are_runtime_modules_to_check() -> None:
    assert len(RUNTIME_FILES) > 10


@pytest.mark.parametrize("path", RUNTIME_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_runtime_module_does_not_import_infra_or_cdk(path: Path) -> None:
    assert _imported_roots(path) & INFRA_ONLY == set()


def test_settings_module_imports_nothing_heavy() -> None:
    # infra imports switchboard.settings at synth time, where only the CDK toolchain (and pydantic) is
    # guaranteed: no AWS SDK, no numerical or HTTP stack, no other switchboard module.
    heavy = {"boto3", "botocore", "numpy", "onnxruntime", "tokenizers", "httpx", "aws_lambda_powertools",
             "switchboard"}
    assert _imported_roots(ROOT / "src" / "switchboard" / "settings.py") & heavy == set()
