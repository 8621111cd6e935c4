"""What a function imports, followed through the code it deploys, and whether its layers hold it.

Read from the source (the AST), never by importing: the assets are built for Lambda's platform, not this
machine's. Starting at a handler's module, every import of the deployed first-party code (the handlers'
folders and the ``switchboard`` package, as the code asset and the layers hold them) is followed, lazy
imports inside functions included and imports only for type checking left out; every other top-level
module must be the standard library's, the Lambda runtime's own (the AWS SDK) or present in one of the
function's layers.
"""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# The runtime package and every function's handler package (functions/<name>/handler.py)
FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
FIRST_PARTY = {"switchboard", *(d.name for d in FUNCTIONS_DIR.iterdir() if (d / "handler.py").is_file())}
# The python3.12 runtime ships the AWS SDK: the layers leave it out on purpose (requirements.txt says so).
RUNTIME_PROVIDED = {"boto3": "the AWS SDK of the Lambda python3.12 runtime",
                    "botocore": "the AWS SDK of the Lambda python3.12 runtime"}
# Imported lazily on paths a deployed function never takes, and why.
NEVER_IN_LAMBDA = {
    "xllamacpp": "the local GGUF provider; a deployed catalogue refuses local_gguf entries (infra/config.py)",
    "tqdm": "progress bars of the local model download (switchboard models pull)",
}


# First-party modules a function reaches only through parts of the composition root it never asks for
# (``switchboard.composition`` builds every part lazily): the sentence encoder and the training run's models
# are the router's and decide's (container().embed(), .services(), .verifier()), which carry the encoder
# layer; the tier, judge and record handlers call only the catalogue, the providers and the trace store.
NOT_REACHED_BY = {
    name: {"switchboard.adapters.encoder", "switchboard.adapters.learned"} for name in ("tier", "judge", "record")
}


@dataclass
class ImportReport:
    """The first-party modules reached, and the third-party top-level modules each needs that the roots
    (code asset and layers) do not hold: {module: [the first-party modules importing it]}."""

    modules: set[str] = field(default_factory=set)
    missing: dict[str, list[str]] = field(default_factory=dict)
    unresolved: dict[str, list[str]] = field(default_factory=dict)  # first-party modules not deployed
    third_party: set[str] = field(default_factory=set)


def module_file(name: str, roots: Sequence[Path]) -> Path | None:
    parts = name.split(".")
    for root in roots:
        for candidate in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
            if candidate.is_file():
                return candidate
    return None


def top_level_present(name: str, roots: Sequence[Path]) -> bool:
    """A package directory, a module file or an extension module named ``name`` in one of the roots."""
    for root in roots:
        if (root / name).is_dir() or (root / f"{name}.py").is_file() or any(root.glob(f"{name}.*.so")) \
                or (root / f"{name}.so").is_file():
            return True
    return False


@functools.lru_cache(maxsize=4096)
def imports_of(path: Path, module: str) -> frozenset[str]:
    """Fully qualified names ``module`` (at ``path``) imports; ``from a import b`` gives ``a.b``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
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
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return frozenset(n for n in names if n)


def follow(entry: str, roots: Sequence[Path], not_reached: frozenset[str] | set[str] = frozenset()) -> ImportReport:
    """Every module ``entry`` reaches through first-party code (but ``not_reached``), checked against
    ``roots``."""
    report = ImportReport()
    pending = [(entry, "<handler>")]
    while pending:
        name, importer = pending.pop()
        top = name.split(".")[0]
        if top in FIRST_PARTY:
            path = module_file(name, roots)
            if path is None:
                parent = name.rsplit(".", 1)[0]
                if "." in name and module_file(parent, roots) is not None:
                    continue  # ``from a import b`` where b is a name defined in a, not a module
                report.unresolved.setdefault(name, []).append(importer)
                continue
            if name in report.modules or name in not_reached:
                continue
            report.modules.add(name)
            pending.extend((imported, name) for imported in imports_of(path, name))
        elif top not in sys.stdlib_module_names and top not in RUNTIME_PROVIDED and top not in NEVER_IN_LAMBDA:
            report.third_party.add(top)
            if not top_level_present(top, roots):
                report.missing.setdefault(top, []).append(importer)
    return report
