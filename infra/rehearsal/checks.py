"""The deploy rehearsal's checks of a synthesised cloud assembly, each one pass or fail with what it saw.

Each check reads the assembly (``Assembly``) and returns a ``Check``; none deploys or calls AWS. The rules
they apply are written once elsewhere and shared: Lambda's limits and the layers' contents in
``infra.layer_spec``, the variables each function reads in ``switchboard.service.settings``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from infra.layer_spec import LAYERS, MANIFEST, Part, describe_sizes, size_problems, wheel_tag_problems
from infra.rehearsal.assembly import ASSET_PROPERTY, Assembly, FunctionView, as_list, render
from infra.rehearsal.imports import NOT_REACHED_BY, follow
from switchboard import envvars as names

MODEL_CALLERS = ("tier", "judge")  # and the router when its environment says it calls a model itself:
# it streams a single tier's tokens, asks the decomposer or asks the slow classifier
ROUTER_MODEL_SWITCHES = (names.ENV_STREAM_TOKENS, names.ENV_DECOMPOSITION, names.ENV_SLOW_CLASSIFIER)
OTHER_VARIABLES = ("AWS_", "POWERTOOLS_")  # read by the Lambda runtime, the Web Adapter and Powertools


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _result(name: str, problems: list[str], passed: str) -> Check:
    return Check(name, not problems, "; ".join(problems) if problems else passed)


def model_callers(assembly: Assembly) -> set[str]:
    """Logical ids of the functions that call models (and so may need Bedrock and the API-key secrets)."""
    return {f.logical_id for f in assembly.functions() if f.name in MODEL_CALLERS
            or (f.name == "router" and any(render(f.environment.get(switch, "")) == "true"
                                           for switch in ROUTER_MODEL_SWITCHES))}


def _tree_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def _manifest(assembly: Assembly, logical_id: str) -> dict | None:
    directory = assembly.asset_dir(logical_id)
    found = sorted(directory.glob(MANIFEST.format(name="*"))) if directory and directory.is_dir() else []
    return json.loads(found[0].read_text(encoding="utf-8")) if found else None


def check_layers_built(assembly: Assembly) -> Check:
    """Every layer a function uses was built by infra.layer_build, for that function's architecture, from
    wheels for it; no placeholder."""
    problems, seen = [], {}
    for fn in assembly.functions():
        for layer in (ref for ref in fn.layers if ref.logical_id):
            manifest = _manifest(assembly, layer.logical_id)  # type: ignore[arg-type]
            if manifest is None:
                problems.append(f"{fn.logical_id}: layer {layer.logical_id} is not a built layer (no manifest: a "
                                "placeholder?)")
                continue
            seen[manifest["layer"]] = manifest
            if manifest["architecture"] not in fn.architectures:
                problems.append(f"{fn.logical_id} runs on {list(fn.architectures)} but layer {manifest['layer']} "
                                f"is built for {manifest['architecture']}")
            python = (layer.path or Path()) / "python"
            tags = {info.name: [line.split(": ", 1)[1] for line in (info / "WHEEL").read_text().splitlines()
                                if line.startswith("Tag: ")]
                    for info in python.glob("*.dist-info") if (info / "WHEEL").is_file()}
            problems += [f"layer {manifest['layer']}: {p}" for p in wheel_tag_problems(tags, manifest["architecture"])]
    missing = sorted(set(LAYERS) - set(seen))
    problems += [f"layer {name} is used by no function" for name in missing]
    return _result("layers", sorted(set(problems)), ", ".join(
        f"{m['layer']} {m['key'][:12]} ({len(m['packages'])} packages)" for m in seen.values())
        + f"; built for {sorted({m['architecture'] for m in seen.values()})}, every wheel for that machine")


def function_parts(assembly: Assembly, fn: FunctionView) -> tuple[list[Part], list[str]]:
    """``fn``'s code and layers measured from the assembly (zipped sizes from each layer's manifest), and
    what could not be measured."""
    parts, unmeasured = [Part("code", _tree_bytes(fn.code) if fn.code else 0, is_layer=False)], []
    for layer in fn.layers:
        if layer.path is None:
            unmeasured.append(f"{fn.logical_id}: {layer.arn or layer.logical_id} (not an asset of this assembly)")
            continue
        manifest = _manifest(assembly, layer.logical_id or "")
        name = manifest["layer"] if manifest else layer.logical_id or "?"
        parts.append(Part(name, _tree_bytes(layer.path), manifest["zipped_bytes"] if manifest else None))
    return parts, unmeasured


def check_sizes(assembly: Assembly) -> Check:
    """Lambda's limits: each function's code and layers under 250 MB unzipped (measured here), each layer
    at most 50 MB zipped (measured when it was built)."""
    problems, lines = [], []
    for fn in assembly.functions():
        parts, unmeasured = function_parts(assembly, fn)
        problems += size_problems(fn.logical_id, parts)
        problems += [f"{p.name} of {fn.logical_id} has no measured zipped size" for p in parts
                     if p.is_layer and p.zipped is None]
        lines.append(describe_sizes(fn.logical_id, parts) + (f" + {len(unmeasured)} public layer" if unmeasured else ""))
    return _result("sizes", problems, "; ".join(lines) + " (MB unzipped/zipped; limits 250 unzipped, 50 zipped)")


def check_imports(assembly: Assembly) -> Check:
    """Each function's layers hold every module its deployed code imports (infra.rehearsal.imports)."""
    problems, lines = [], []
    for fn in assembly.functions():
        roots = [fn.code] if fn.code else []
        roots += [ref.path / "python" for ref in fn.layers if ref.path is not None]
        report = follow(fn.handler_module, roots, NOT_REACHED_BY.get(fn.name, set()))
        problems += [f"{fn.logical_id} imports {m} (from {sorted(set(by))[0]}) but none of its layers holds it"
                     for m, by in sorted(report.missing.items())]
        problems += [f"{fn.logical_id}: module {m} is not deployed" for m in sorted(report.unresolved)]
        lines.append(f"{fn.logical_id} {len(report.modules)} modules, {len(report.third_party)} packages")
    return _result("imports", problems, "; ".join(lines) + ", every one in the function's code or layers")


def _statements(assembly: Assembly, wanted: Callable[[str], bool]) -> Iterable[tuple[str, list[str], list[str]]]:
    """(role, actions, resources) of the statements with an action ``wanted`` picks (or ``*``)."""
    for role, statement in assembly.statements():
        if statement.get("Effect", "Allow") != "Allow":
            continue
        actions = [str(a) for a in as_list(statement.get("Action", []))]
        if any(a == "*" or wanted(a) for a in actions):
            yield role, actions, [render(r) for r in as_list(statement.get("Resource", []))]


def check_bedrock_scope(assembly: Assembly) -> Check:
    """Bedrock: named actions on named models, held only by the functions that call models."""
    holders = {fn.role: fn.logical_id for fn in assembly.functions()}
    callers, problems, models = model_callers(assembly), [], set()
    for role, actions, resources in _statements(assembly, lambda a: a.lower().startswith("bedrock:")):
        who = holders.get(role, role)
        problems += [f"{who}: wildcard action {a}" for a in actions if "*" in a]
        for resource in resources:
            model = resource.split("/", 1)[1] if "/" in resource else resource
            if "*" in model:
                problems.append(f"{who}: {resource} names no model")
            models.add(model)
        if who not in callers:
            problems.append(f"{who} may invoke Bedrock but calls no model")
    callers_named = sorted(holders[r] for r in holders if holders[r] in callers)
    return _result("iam-bedrock", problems, f"{', '.join(callers_named)} may invoke exactly {len(models)} model ids "
                   f"({', '.join(sorted(models))}); no wildcard action or model")


def check_secret_readers(assembly: Assembly) -> Check:
    """Secrets Manager: GetSecretValue on named secrets, held only by the functions that call models."""
    holders = {fn.role: fn.logical_id for fn in assembly.functions()}
    callers, problems, secrets = model_callers(assembly), [], set()
    for role, actions, resources in _statements(assembly, lambda a: a.lower().startswith("secretsmanager:")):
        who = holders.get(role, role)
        problems += [f"{who}: {a} (only secretsmanager:GetSecretValue is needed)" for a in actions
                     if a != "secretsmanager:GetSecretValue"]
        problems += [f"{who}: secret {r} is a wildcard" for r in resources if "*" in r]
        if who not in callers:
            problems.append(f"{who} may read secrets but calls no model")
        secrets.update(resources)
    return _result("iam-secrets", problems, f"{len(secrets)} secret(s) readable, by model callers only"
                   if secrets else "no function may read a secret (none configured)")


def check_environment(assembly: Assembly) -> Check:
    """Every variable a function's settings require is set by the template, every value validates, and the
    template sets no variable the function does not read (a misspelt name)."""
    from switchboard.service.settings import FUNCTION_SETTINGS, SettingsError

    problems, lines = [], []
    for fn in assembly.functions():
        kinds = FUNCTION_SETTINGS.get(fn.name)
        if kinds is None:
            problems.append(f"{fn.logical_id}: no settings are declared for function '{fn.name}'")
            continue
        reads: dict[str, bool] = {}
        for kind in kinds:
            for var, required in kind.variables().items():
                reads[var] = reads.get(var, False) or required
        env = {k: render(v) for k, v in fn.environment.items()}
        problems += [f"{fn.logical_id} needs {var}, which the template does not set"
                     for var, required in sorted(reads.items()) if required and var not in env]
        problems += [f"{fn.logical_id}: {var} is set but {fn.name} never reads it" for var in sorted(env)
                     if var not in reads and not var.startswith(OTHER_VARIABLES)]
        for kind in kinds:
            try:
                kind.from_env(env)
            except SettingsError as exc:
                problems.append(f"{fn.logical_id}: {str(exc).splitlines()[0]}")
        required = sum(reads[v] for v in reads)
        lines.append(f"{fn.logical_id} {sum(v in env for v in reads)}/{len(reads)} set ({required} required)")
    return _result("environment", sorted(set(problems)), "; ".join(lines))


def check_sam_metadata(assembly: Assembly) -> Check:
    """What `sam local invoke -t <template>` reads: each function's and layer's asset in this assembly."""
    problems, count = [], 0
    for fn in assembly.functions():
        meta = assembly.resources[fn.logical_id].get("Metadata", {})
        if fn.code is None or not fn.code.is_dir() or meta.get(ASSET_PROPERTY) != "Code":
            problems.append(f"{fn.logical_id}: no code asset in the assembly (aws:asset:path)")
        elif not (fn.code / fn.name / "handler.py").is_file():
            problems.append(f"{fn.logical_id}: its code asset lacks {fn.name}/handler.py")
        for layer in (ref for ref in fn.layers if ref.logical_id):
            layer_meta = assembly.resources[layer.logical_id].get("Metadata", {})  # type: ignore[index]
            if layer.path is None or not (layer.path / "python").is_dir() or layer_meta.get(ASSET_PROPERTY) != "Content":
                problems.append(f"{fn.logical_id}: layer {layer.logical_id} has no asset with python/ in the assembly")
        count += 1
    return _result("sam-assets", sorted(set(problems)),
                   f"{count} functions and their layers name their assets (aws:asset:path) in {assembly.outdir.name}")


def check_cfn_lint(assembly: Assembly) -> Check:
    import cfnlint
    from cfnlint.api import lint_file

    matches = lint_file(assembly.template_path)
    return _result("cfn-lint", [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches],
                   f"cfn-lint {getattr(cfnlint, '__version__', '')}: no finding".replace(" :", ":"))


CHECKS: tuple[Callable[[Assembly], Check], ...] = (
    check_layers_built, check_sizes, check_imports, check_bedrock_scope, check_secret_readers,
    check_environment, check_sam_metadata, check_cfn_lint)
