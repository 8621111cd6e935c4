"""Read the cascade's state-machine definition out of a synthesised CloudFormation template.

CDK renders ``DefinitionString`` as an ``Fn::Join`` of JSON text and intrinsic functions (the Lambda ARNs
are ``Fn::GetAtt [LogicalId, Arn]``). The local stack runs *that* definition, so it needs the join resolved
without AWS: each function ARN becomes a placeholder ARN that ends in the function's logical id, which is
the name the local Lambda dispatcher registers the handler under. Infra tests use the same function.
Dependency-free (json only): runtime code must not import infra or aws_cdk.
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "000000000000"
STATE_MACHINE_TYPE = "AWS::StepFunctions::StateMachine"


class DefinitionError(ValueError):
    """The template has no single state machine, or its definition uses an intrinsic we cannot resolve."""


def placeholder_function_arn(logical_id: str, *, region: str = DEFAULT_REGION,
                             account: str = DEFAULT_ACCOUNT) -> str:
    """The ARN a function's ``Fn::GetAtt [logical_id, Arn]`` is replaced with."""
    return f"arn:aws:lambda:{region}:{account}:function:{logical_id}"


def definition_from_template(template: dict[str, Any], *, logical_id: str | None = None,
                             region: str = DEFAULT_REGION, account: str = DEFAULT_ACCOUNT
                             ) -> tuple[dict[str, Any], dict[str, str]]:
    """Return ``(definition, lambda_logical_ids_by_placeholder)`` for the template's state machine.

    ``definition`` is the parsed Amazon States Language document with every ``{"Fn::GetAtt": [LogicalId,
    "Arn"]}`` of a Lambda function replaced by ``arn:aws:lambda:<region>:<account>:function:<LogicalId>``
    (region ``us-east-1`` and account ``000000000000`` unless given), and the pseudo parameters
    ``AWS::Partition``/``AWS::Region``/``AWS::AccountId``/``AWS::URLSuffix`` by local values. The second
    value maps each placeholder ARN to its function's logical id. ``logical_id`` picks the state machine
    when the template has more than one. Accepts a ``DefinitionString`` that is a plain string or an
    ``Fn::Join`` (or an inline ``Definition`` object), with optional ``DefinitionSubstitutions``; raises
    ``DefinitionError`` for anything else.
    """
    resources = template.get("Resources", {})
    machines = {lid: r for lid, r in resources.items() if r.get("Type") == STATE_MACHINE_TYPE}
    if logical_id is not None:
        if logical_id not in machines:
            raise DefinitionError(f"no state machine {logical_id!r} in the template "
                                  f"(found {sorted(machines)})")
        machine = machines[logical_id]
    elif len(machines) == 1:
        machine = next(iter(machines.values()))
    else:
        raise DefinitionError(f"expected one state machine in the template, found {sorted(machines)}")

    resolver = _Resolver(resources, region=region, account=account)
    props = machine.get("Properties", {})
    if "DefinitionString" in props:
        text = resolver.text(props["DefinitionString"])
    elif "Definition" in props:
        text = json.dumps(props["Definition"])
    else:
        raise DefinitionError("the state machine has neither DefinitionString nor Definition")
    for name, value in (props.get("DefinitionSubstitutions") or {}).items():
        text = text.replace("${" + name + "}", resolver.text(value))
    try:
        definition = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DefinitionError(f"the resolved definition is not JSON: {exc}") from exc
    return definition, dict(resolver.functions)


class _Resolver:
    """Turns the few intrinsic functions CDK puts into a definition into local strings."""

    def __init__(self, resources: dict[str, Any], *, region: str, account: str) -> None:
        self.resources = resources
        self.region, self.account = region, account
        self.functions: dict[str, str] = {}
        self.pseudo = {"AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": account,
                       "AWS::URLSuffix": "amazonaws.com"}

    def text(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Fn::Join":
                separator, parts = arg
                return separator.join(self.text(part) for part in parts)
            if fn == "Fn::GetAtt":
                target, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self._get_att(target, attribute)
            if fn == "Ref":
                return self._ref(arg)
        raise DefinitionError(f"cannot resolve {json.dumps(value)[:200]} in a state-machine definition")

    def _get_att(self, target: str, attribute: str) -> str:
        kind = self.resources.get(target, {}).get("Type")
        if kind == "AWS::Lambda::Function" and attribute == "Arn":
            arn = placeholder_function_arn(target, region=self.region, account=self.account)
            self.functions[arn] = target
            return arn
        raise DefinitionError(f"cannot resolve Fn::GetAtt {target}.{attribute} "
                              f"({kind or 'unknown resource'})")

    def _ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        kind = self.resources.get(name, {}).get("Type")
        if kind == "AWS::Lambda::Function":  # Ref of a function is its name: the dispatcher's key
            return name
        raise DefinitionError(f"cannot resolve Ref {name} ({kind or 'unknown'})")
