"""Run by the SAM CLI's own Python (.venv-sam): how `sam local invoke -t TEMPLATE` sees each function -
its code directory, handler, runtime, architecture, layers and environment - as JSON on stdout. This is
what SAM resolves before it starts a container, the one step that needs Docker.

    .venv-sam/bin/python tests/support/sam_probe.py cdk.out/Switchboard.template.json
"""

from __future__ import annotations

import json
import logging
import sys

from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider


def main(template: str) -> None:
    logging.disable(logging.WARNING)  # SAM warns about every resource that is not a function
    stacks, _ = SamLocalStackProvider.get_stacks(template)
    functions = {}
    for fn in SamFunctionProvider(stacks, use_raw_codeuri=False).get_all():
        functions[fn.name] = {"handler": fn.handler, "runtime": fn.runtime, "codeuri": fn.codeuri,
                              "architectures": fn.architectures, "memory": fn.memory, "timeout": fn.timeout,
                              "layers": [{"name": layer.name, "codeuri": layer.codeuri} for layer in fn.layers],
                              "environment": (fn.environment or {}).get("Variables", {})}
    json.dump(functions, sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main(sys.argv[1])
