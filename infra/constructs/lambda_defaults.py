"""Lambda defaults, defined once: runtime, architecture, tracing, log group, memory and timeout.

Every Switchboard function is built by ``SwitchboardFunction`` so a change of runtime or log policy is one
edit. Handlers live in ``functions/<name>/handler.py`` and are addressed as ``<name>.handler.lambda_handler``;
the switchboard package and its dependencies come from layers (see layers.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import lint, nag
from infra.ids import pin_logical_id

# python3.12: AL2023 (glibc 2.34) is needed by onnxruntime's manylinux_2_28 wheels; the layers are cp312.
RUNTIME = lambda_.Runtime.PYTHON_3_12
# switchboard:architecture -> Lambda's (the layers are built for the same one).
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
DEFAULT_MEMORY_MB = 256
DEFAULT_TIMEOUT = Duration.seconds(10)
HANDLER = "{name}.handler.lambda_handler"
# Kept out of the code asset so a local test run does not change the asset hash (and redeploy all functions).
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/.pytest_cache", "**/.mypy_cache", "**/.ruff_cache"]
CACHE_DIRS = (".pytest_cache", ".mypy_cache", ".ruff_cache")


class SwitchboardFunction(Construct):
    """A Lambda function with the project's defaults and its own log group (retention applied).

    An explicit log group (rather than ``log_retention``) avoids CDK's log-retention custom-resource
    Lambda, which would be one more function to patch and acknowledge.
    """

    def __init__(self, scope: Construct, construct_id: str, *, name: str, code: lambda_.Code,
                 layers: Sequence[lambda_.ILayerVersion], log_retention: logs.RetentionDays,
                 architecture: lambda_.Architecture, description: str, memory_mb: int = DEFAULT_MEMORY_MB,
                 timeout: Duration = DEFAULT_TIMEOUT, environment: Mapping[str, str] | None = None,
                 logical_id: str | None = None, handler: str | None = None, snap_start: bool = False) -> None:
        super().__init__(scope, construct_id)
        self.layers = list(layers)
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention,
                                       removal_policy=RemovalPolicy.DESTROY)
        self.function = lambda_.Function(
            self, "Function",
            runtime=RUNTIME,
            architecture=architecture,
            handler=handler or HANDLER.format(name=name),
            code=code,
            layers=list(layers),
            memory_size=memory_mb,
            timeout=timeout,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            description=description,
            environment=dict(environment or {}),
            # SnapStart applies to published versions only (the caller publishes one and invokes it).
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_start else None,
        )
        if logical_id:  # see infra/ids.py
            pin_logical_id(self.function, logical_id)
        lint.acknowledge(self.function, lint.REDUNDANT_ROLE_DEPENDENCY)
        role = self.function.role
        assert role is not None  # Function always creates one when none is given
        nag.acknowledge(role, "AwsSolutions-IAM4", nag.LAMBDA_BASIC_EXECUTION,
                        findings=[nag.LAMBDA_BASIC_EXECUTION_POLICY])
        nag.acknowledge(role, "AwsSolutions-IAM5", nag.XRAY_WILDCARD, findings=["Resource::*"])
        nag.acknowledge(self.function, "AwsSolutions-L1", nag.PYTHON_RUNTIME)


def function_code(functions_dir: str) -> lambda_.Code:
    """One code asset for all handlers (they share the ``functions/`` tree; CDK uploads it once)."""
    return lambda_.Code.from_asset(functions_dir, exclude=ASSET_EXCLUDES)


def code_size(functions_dir: Path) -> int:
    """Bytes of the handlers' code asset, unzipped (what ``function_code`` packages)."""
    skipped = {"__pycache__", *CACHE_DIRS}
    return sum(p.stat().st_size for p in functions_dir.rglob("*")
               if p.is_file() and not skipped & set(p.parts) and p.suffix != ".pyc")
