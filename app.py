#!/usr/bin/env python3
"""CDK app entry: `python app.py` (honours CDK_OUTDIR, default ./cdk.out) or `cdk synth` / `cdk deploy`.

cdk-nag's AwsSolutions checks run as a validation plugin on every synth; an unacknowledged finding fails
it. Run directly, the app reads cdk.json's context itself (the CDK CLI normally passes it); context from
the CLI (-c key=value, cdk.context.json) takes precedence.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))  # infra imports env-var names from the runtime (switchboard.envvars)

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from infra.config import ConfigError, SwitchboardConfig  # noqa: E402
from infra.switchboard_stack import DeploymentTooLarge, SwitchboardStack  # noqa: E402

# What the CDK CLI sets by default, set here too so `python app.py` emits the same template: each
# resource's construct path and each function's and layer's asset (aws:asset:path), which
# `sam local invoke -t cdk.out/<stack>.template.json` reads to find the code it runs.
CLI_METADATA = {"aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True}


def cdk_json_context(root: Path = ROOT) -> dict[str, Any]:
    return json.loads((root / "cdk.json").read_text(encoding="utf-8")).get("context", {})


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None,
              root: Path = ROOT) -> tuple[cdk.App, SwitchboardStack]:
    """The app with its one stack and cdk-nag attached; ``context`` overrides cdk.json's defaults."""
    app = cdk.App(context={**CLI_METADATA, **cdk_json_context(root), **(context or {})},
                  outdir=outdir or os.environ.get("CDK_OUTDIR") or str(root / "cdk.out"))
    # cdk-nag 3 is a policy-validation plugin (the cdk-nag 2 Aspects style crashes with it).
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    config = SwitchboardConfig.from_node(app.node)  # fails here, before any construct, on bad context
    stack = SwitchboardStack(app, config.stack_name, config=config, root=root)
    return app, stack


def main() -> None:
    try:
        app, _ = build_app()
        app.synth()  # prints the validation report (nag findings, a placeholder-layers warning) if any
    except (ConfigError, DeploymentTooLarge) as exc:
        sys.exit(f"synth failed: {exc}")
    except RuntimeError as exc:  # a layer that cannot be built fails CDK's bundling, through jsii
        if "Failed to bundle asset" not in str(exc):
            raise
        sys.exit(f"synth failed: {exc}")


if __name__ == "__main__":
    main()
