"""A synthesised cloud assembly read back as deployment would see it: the stack's template, each
Switchboard function with its code and layer directories, its environment and the IAM statements its role
holds. Reads JSON and directories only."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ASSET_PATH, ASSET_PROPERTY = "aws:asset:path", "aws:asset:property"
# functions/<name>/handler.py's lambda_handler, or functions/<name>/run.sh under the Lambda Web Adapter
HANDLER = re.compile(r"(\w+)\.handler\.lambda_handler|(\w+)/run\.sh")


def render(value: Any) -> str:
    """An intrinsic as text (``${Name}`` for a reference), so policies and ARNs can be read."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (kind, arg), = value.items()
        if kind == "Ref":
            return "${" + str(arg) + "}"
        if kind == "Fn::GetAtt":
            return "${" + ".".join(map(str, arg)) + "}"
        if kind == "Fn::Join":
            return str(arg[0]).join(render(v) for v in arg[1])
        if kind == "Fn::Sub":
            return arg if isinstance(arg, str) else str(arg[0])
    if isinstance(value, list):
        return ",".join(render(v) for v in value)
    return json.dumps(value, sort_keys=True)


@dataclass(frozen=True)
class LayerRef:
    logical_id: str | None  # None: a layer the stack does not own (AWS's, by ARN)
    path: Path | None
    arn: str | None = None


@dataclass(frozen=True)
class FunctionView:
    logical_id: str
    name: str  # the handler's folder under functions/: router, tier, judge, decide, record
    handler: str
    code: Path | None
    layers: tuple[LayerRef, ...]
    environment: dict[str, Any]
    architectures: tuple[str, ...]
    role: str | None

    @property
    def handler_module(self) -> str:
        return f"{self.name}.handler"


class Assembly:
    def __init__(self, outdir: Path, stack_name: str) -> None:
        self.outdir = outdir
        self.template_path = outdir / f"{stack_name}.template.json"
        self.template: dict[str, Any] = json.loads(self.template_path.read_text(encoding="utf-8"))
        self.resources: dict[str, dict[str, Any]] = self.template.get("Resources", {})

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.resources.items() if r.get("Type") == kind}

    def asset_dir(self, logical_id: str) -> Path | None:
        """The directory a resource's asset was staged in (its ``aws:asset:path``), if there is one."""
        meta = self.resources.get(logical_id, {}).get("Metadata", {})
        if ASSET_PATH not in meta:
            return None
        path = Path(meta[ASSET_PATH])
        return path if path.is_absolute() else self.outdir / path

    def functions(self) -> list[FunctionView]:
        """Switchboard's functions (CDK's own helpers, e.g. the custom-resource provider, left out)."""
        out = []
        for lid, resource in self.of_type("AWS::Lambda::Function").items():
            props = resource.get("Properties", {})
            handler = str(props.get("Handler", ""))
            match = HANDLER.fullmatch(handler)
            if match is None:
                continue
            name = match.group(1) or match.group(2)
            layers = []
            for ref in props.get("Layers", []):
                if isinstance(ref, dict) and "Ref" in ref:
                    layers.append(LayerRef(ref["Ref"], self.asset_dir(ref["Ref"])))
                else:
                    layers.append(LayerRef(None, None, render(ref)))
            role = props.get("Role", {}).get("Fn::GetAtt", [None])[0] if isinstance(props.get("Role"), dict) else None
            out.append(FunctionView(lid, name, handler, self.asset_dir(lid), tuple(layers),
                                    dict(props.get("Environment", {}).get("Variables", {})),
                                    tuple(props.get("Architectures", ["x86_64"])), role))
        return sorted(out, key=lambda f: f.logical_id)

    def statements(self) -> list[tuple[str, dict[str, Any]]]:
        """Every IAM statement of the stack's policies, with the logical id of each role it is attached to."""
        out = []
        for resource in self.of_type("AWS::IAM::Policy").values():
            props = resource.get("Properties", {})
            roles = [r["Ref"] for r in props.get("Roles", []) if isinstance(r, dict) and "Ref" in r]
            for statement in props.get("PolicyDocument", {}).get("Statement", []):
                out += [(role, statement) for role in roles]
        for lid, resource in self.of_type("AWS::IAM::Role").items():
            for policy in resource.get("Properties", {}).get("Policies", []):
                out += [(lid, s) for s in policy.get("PolicyDocument", {}).get("Statement", [])]
        return out


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
