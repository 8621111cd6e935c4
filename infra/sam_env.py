"""The environment `sam local invoke` should give each function to run against a deployed stack.

SAM resolves a ``Ref`` in a function's environment to the logical id (``SB_TRACES_TABLE=TracesTable``), a
table no account has. This writes SAM's ``--env-vars`` file instead: each variable that refers to a
resource, resolved to the physical name the deployed stack reports in its outputs (``TracesTableName``,
``StateMachineArn``...).

    python -m infra.sam_env --stack Switchboard [--template cdk.out/Switchboard.template.json] > sam-env.json
    sam local invoke -t cdk.out/Switchboard.template.json RouterFn -e events/router/chat_completion.json \\
        --env-vars sam-env.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def env_vars(template: dict[str, Any], outputs: dict[str, str]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """({function logical id: {variable: value}}, the variables no output resolves) - for every function
    whose environment refers to a resource the stack's outputs name."""
    by_ref = {json.dumps(out["Value"], sort_keys=True): key for key, out in template.get("Outputs", {}).items()}
    resolved: dict[str, dict[str, str]] = {}
    unresolved: list[str] = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        for name, value in variables.items():
            if isinstance(value, str):
                continue  # SAM passes literal values as they are
            output = by_ref.get(json.dumps(value, sort_keys=True))
            if output is not None and output in outputs:
                resolved.setdefault(logical_id, {})[name] = outputs[output]
            else:
                unresolved.append(f"{logical_id}.{name}")
    return resolved, unresolved


def stack_outputs(stack: str, region: str | None = None) -> dict[str, str]:
    import boto3

    described = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack)
    return {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.sam_env", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="Switchboard")
    parser.add_argument("--template", type=Path, help="default: cdk.out/<stack>.template.json")
    parser.add_argument("--region")
    args = parser.parse_args(argv)
    template_path = args.template or ROOT / "cdk.out" / f"{args.stack}.template.json"
    template = json.loads(template_path.read_text(encoding="utf-8"))
    resolved, unresolved = env_vars(template, stack_outputs(args.stack, args.region))
    json.dump(resolved, sys.stdout, indent=2, sort_keys=True)
    print()
    if unresolved:
        print(f"no output of {args.stack} names {', '.join(unresolved)}: SAM passes their logical ids", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
