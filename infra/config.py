"""Typed configuration of the stack, read from CDK context (``switchboard:*`` keys).

Every value is validated before a single construct is created, so a typo or a bad value fails the synth
with a message naming the context key, instead of surfacing as a CloudFormation error ten minutes into a
deployment. Defaults live here; cdk.json repeats them for discoverability (a test keeps the two equal).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Node
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from switchboard.domain.catalog import ModelEntry

BEDROCK_CATALOG = Path(__file__).resolve().parent.parent / "src" / "switchboard" / "data" / "catalog.bedrock.json"

CONTEXT_PREFIX = "switchboard:"

# CloudWatch Logs accepts only these retention periods; anything else fails at deploy time.
_RETENTION_DAYS = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS, 5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS, 150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS, 545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS, 1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}

RemovalChoice = Literal["retain", "destroy"]
# AWS's public Lambda Web Adapter layers (the streaming router), one build per architecture.
WEB_ADAPTER_LAYERS = {
    "arm64": "arn:aws:lambda:${AWS::Region}:753240598075:layer:LambdaAdapterLayerArm64:25",
    "x86_64": "arn:aws:lambda:${AWS::Region}:753240598075:layer:LambdaAdapterLayerX86:25",
}
# Where AWS lists what SnapStart supports (runtimes) and what it does not (provisioned concurrency, EFS,
# ephemeral storage over 512 MB).
SNAPSTART_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html"
# The alias API Gateway invokes when a router version is published (routerSnapStart, routerProvisionedConcurrency).
ROUTER_ALIAS = "live"
# Context keys that no longer exist, and what took their place (a deployment script may still pass them).
REMOVED_KEYS = {
    "requireBuiltLayers": "every synth now builds the Lambda layers it packages (cached); "
                          "-c switchboard:layers=placeholder synthesises stand-ins instead (tests only)",
}


class ConfigError(ValueError):
    """Bad CDK context: raised before synthesis starts, with the offending keys in the message."""


class SwitchboardConfig(BaseModel):
    """All tunables of the deployment. Field aliases are the context keys without the prefix."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    stack_name: str = Field("Switchboard", alias="stackName", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
    # "build": every synth builds the Lambda layers it packages (local bundling, cached by a hash of the
    # lock and the sources; infra/layer_build.py), so what it emits can be deployed as it is.
    # "placeholder": stand-ins that say they are not built, for tests and the local stack, which read the
    # template but run the handlers in-process; a stack deployed from it fails at cold start.
    layers: Literal["build", "placeholder"] = Field("build", alias="layers")
    # The functions' instruction set: every wheel of both layers exists for arm64 (checked at each build),
    # which Lambda bills about 20% less per GB-second than x86_64.
    architecture: Literal["arm64", "x86_64"] = Field("arm64", alias="architecture")
    # "keys": Authorization: Bearer <key> checked by the router against the keys table (switchboard keys
    # create), each key with an optional budget - what the OpenAI SDK sends as is; "api_key": API Gateway's
    # x-api-key + usage plan; "iam": SigV4-signed calls. With api_key and iam, Bearer keys are optional.
    api_auth: Literal["keys", "api_key", "iam"] = Field("keys", alias="apiAuth")
    throttle_rate_limit: float = Field(20.0, gt=0, le=10000, alias="throttleRateLimit")
    throttle_burst_limit: int = Field(40, ge=1, le=5000, alias="throttleBurstLimit")
    # API Gateway needs an account-level role to write logs; turn off if the account already has one.
    api_gateway_cloudwatch_role: bool = Field(True, alias="apiGatewayCloudWatchRole")
    hourly_spend_alarm_usd: float = Field(5.0, gt=0, alias="hourlySpendAlarmUsd")
    alarm_email: str | None = Field(None, alias="alarmEmail", pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    trace_ttl_days: int = Field(30, ge=1, le=3650, alias="traceTtlDays")
    traces_removal_policy: RemovalChoice = Field("retain", alias="tracesRemovalPolicy")
    # Catalog and taxonomy are reloaded from the repo and from `switchboard train` artifacts.
    reference_tables_removal_policy: RemovalChoice = Field("retain", alias="referenceTablesRemovalPolicy")
    log_retention_days: int = Field(30, alias="logRetentionDays")
    # The catalogue written into the catalogue table when the stack is created, so a fresh deployment
    # answers from its first request: a JSON catalogue file (relative paths are from the repository root),
    # "bedrock" for the shipped Bedrock catalogue, or "none". Entries already in the table are kept.
    default_catalog: str = Field("bedrock", alias="defaultCatalog", min_length=1)
    # Bedrock model ids the tier/judge functions may call. Default: exactly the default catalogue's Bedrock
    # models. ["*"] = any foundation model (for catalogues published later that name other models).
    bedrock_model_ids: list[str] | None = Field(None, alias="bedrockModelIds", min_length=1)
    # Secrets Manager secrets (ARNs) holding API keys of openai/anthropic catalogue entries, which the
    # tier/judge functions may read; the default catalogue's api_key_secret_arn values are always added.
    secret_arns: list[str] = Field(default_factory=list, alias="secretArns")
    # The learned router of a `switchboard train --out DIR` run (router.onnx + router.json), packaged as a
    # layer of the router Lambda; relative paths are from the repository root. None = no learned router.
    router_artifacts: str | None = Field(None, alias="routerArtifacts", min_length=1)
    # Stream responses: API Gateway's STREAM response transfer mode, the router run as an HTTP server by the
    # Lambda Web Adapter (Python Lambdas cannot stream by themselves). stream=true then sends keep-alives
    # while a cascade works and the answer as soon as it is decided, and a request may run past the 29 s of
    # a buffered integration (up to streamingTimeoutSeconds). Off by default: see docs/architecture.md.
    streaming: bool = Field(False, alias="streaming")
    # The router may call catalogue models itself for the four-axis taxonomy's slow classifier (a run trained
    # with --slow-classifier names one): the router then gets the tier functions' model-call permissions.
    slow_classifier: bool = Field(False, alias="slowClassifier")
    streaming_timeout_seconds: int = Field(300, ge=30, le=900, alias="streamingTimeoutSeconds")
    # The Lambda Web Adapter's public layer, published by AWS in every commercial region; None = AWS's
    # build for the functions' architecture (WEB_ADAPTER_LAYERS).
    web_adapter_layer_arn: str | None = Field(
        None, alias="webAdapterLayerArn",
        pattern=r"^arn:aws[a-z-]*:lambda:(\$\{AWS::Region\}|[a-z0-9-]+):\d{12}:layer:[A-Za-z0-9_-]+:\d+$")

    # Decomposition: the router asks a catalogue model (decomposerModel, default the cheapest routable one)
    # for the parts of a request the detector finds compound, and the state machine runs a cascade per part
    # (a Map). The router then also gets the tier function's model permissions to make that call. Off by
    # default: the decomposer's measured error on real models is too high to split requests unasked
    # (docs/benchmarks.md, "Decomposition"); turn it on with a decomposer you have measured.
    decomposition: bool = Field(False, alias="decomposition")
    decomposer_model: str | None = Field(None, alias="decomposerModel", min_length=1)
    # The page of recent requests (GET /ui, served by the router from the route table): off by default. It
    # reads GET /v1/traces with a bearer key the user types in, so it needs apiAuth "keys".
    ui: bool = Field(False, alias="ui")

    @model_validator(mode="after")
    def _ui_needs_bearer_keys(self) -> SwitchboardConfig:
        if self.ui and self.api_auth != "keys":
            raise ValueError("ui needs apiAuth \"keys\": the page sends a bearer key; a browser cannot send "
                             "API Gateway keys or SigV4 signatures for it")
        return self

    # The router's cold starts (docs/architecture.md, "Latency, hop by hop"). Either one publishes a version
    # of RouterFn behind the alias ROUTER_ALIAS, which API Gateway then invokes instead of $LATEST.
    # routerSnapStart: Lambda SnapStart on that version (python3.12+ runtimes only; checked at synth against
    # the runtime the functions use). routerProvisionedConcurrency: N initialised environments on the
    # alias, billed while they exist. Lambda does not allow the two together (SNAPSTART_DOC).
    router_snap_start: bool = Field(False, alias="routerSnapStart")
    router_provisioned_concurrency: int = Field(0, ge=0, le=1000, alias="routerProvisionedConcurrency")

    @model_validator(mode="after")
    def _one_cold_start_option(self) -> SwitchboardConfig:
        if self.router_snap_start and self.router_provisioned_concurrency:
            raise ValueError(
                f"{CONTEXT_PREFIX}routerSnapStart and {CONTEXT_PREFIX}routerProvisionedConcurrency="
                f"{self.router_provisioned_concurrency} cannot be combined: Lambda SnapStart does not support "
                f"provisioned concurrency ({SNAPSTART_DOC}); choose one")
        return self

    @field_validator("log_retention_days")
    @classmethod
    def _known_retention(cls, days: int) -> int:
        if days not in _RETENTION_DAYS:
            raise ValueError(f"must be one of {sorted(_RETENTION_DAYS)}")
        return days

    @field_validator("bedrock_model_ids", "secret_arns", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        # `cdk synth -c switchboard:bedrockModelIds=a,b` arrives as one string.
        if isinstance(value, str):
            value = value.strip()
            return json.loads(value) if value.startswith("[") else [v.strip() for v in value.split(",") if v]
        return value

    @field_validator("secret_arns")
    @classmethod
    def _sane_arns(cls, arns: list[str]) -> list[str]:
        for arn in arns:
            if not re.fullmatch(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+", arn):
                raise ValueError(f"not a Secrets Manager secret ARN: {arn!r}")
        return arns

    @field_validator("bedrock_model_ids")
    @classmethod
    def _sane_ids(cls, ids: list[str] | None) -> list[str] | None:
        for model_id in ids or []:
            if model_id != "*" and not model_id.replace(".", "").replace("-", "").replace(":", "").isalnum():
                raise ValueError(f"not a Bedrock model id: {model_id!r}")
        return ids

    # ---- derived values ----------------------------------------------------------------------------
    def default_catalog_entries(self, root: Path | None = None) -> list[ModelEntry]:
        """The catalogue seeded into the table at creation ([] for "none")."""
        if self.default_catalog == "none":
            return []
        path = BEDROCK_CATALOG if self.default_catalog == "bedrock" else Path(self.default_catalog)
        if not path.is_absolute() and root is not None:
            path = root / path
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            entries = [ModelEntry.model_validate(e) for e in raw]
        except (OSError, ValueError) as exc:
            raise ConfigError(f"switchboard:defaultCatalog: {path} is not a model catalogue: {exc}") from exc
        unusable = sorted(e.model_id for e in entries if e.provider in ("replay", "fault", "local_gguf"))
        if unusable:
            raise ConfigError(f"switchboard:defaultCatalog: entries {unusable} use a provider a Lambda cannot "
                              "serve (bedrock, openai and anthropic can)")
        return entries

    def bedrock_models(self, root: Path | None = None) -> list[str]:
        """The Bedrock model ids the functions may invoke (see ``bedrock_model_ids``)."""
        if self.bedrock_model_ids is not None:
            return list(self.bedrock_model_ids)
        ids = sorted({e.provider_model for e in self.default_catalog_entries(root) if e.provider == "bedrock"})
        return ids

    def secrets(self, root: Path | None = None) -> list[str]:
        arns = {e.api_key_secret_arn for e in self.default_catalog_entries(root) if e.api_key_secret_arn}
        return sorted(arns | set(self.secret_arns))

    @property
    def web_adapter_arn(self) -> str:
        return self.web_adapter_layer_arn or WEB_ADAPTER_LAYERS[self.architecture]

    @property
    def publishes_router_version(self) -> bool:
        """Whether API Gateway invokes a published version of the router (through ROUTER_ALIAS)."""
        return self.router_snap_start or self.router_provisioned_concurrency > 0

    @property
    def log_retention(self) -> logs.RetentionDays:
        return _RETENTION_DAYS[self.log_retention_days]

    @property
    def traces_removal(self) -> RemovalPolicy:
        return _removal(self.traces_removal_policy)

    @property
    def reference_tables_removal(self) -> RemovalPolicy:
        return _removal(self.reference_tables_removal_policy)

    # ---- construction ------------------------------------------------------------------------------
    @classmethod
    def context_keys(cls) -> list[str]:
        return sorted(CONTEXT_PREFIX + (f.alias or name) for name, f in cls.model_fields.items())

    @classmethod
    def from_mapping(cls, context: dict[str, Any]) -> SwitchboardConfig:
        """Validate the ``switchboard:*`` entries of a context mapping; other keys are ignored."""
        ours = {k[len(CONTEXT_PREFIX):]: v for k, v in context.items() if k.startswith(CONTEXT_PREFIX)}
        known = {f.alias or name for name, f in cls.model_fields.items()}
        removed = sorted(set(ours) & set(REMOVED_KEYS))
        if removed:
            raise ConfigError("; ".join(f"{CONTEXT_PREFIX}{k} was removed: {REMOVED_KEYS[k]}" for k in removed))
        unknown = sorted(set(ours) - known)
        if unknown:  # a misspelt key would otherwise be ignored silently
            raise ConfigError(f"unknown context key(s) {[CONTEXT_PREFIX + k for k in unknown]}; "
                              f"known keys: {cls.context_keys()}")
        try:
            return cls.model_validate(ours)
        except ValidationError as exc:
            problems = "; ".join((f"{CONTEXT_PREFIX}{'.'.join(map(str, e['loc']))}: " if e["loc"] else "")
                                 + e["msg"] for e in exc.errors())
            raise ConfigError(f"invalid CDK context: {problems}") from exc

    @classmethod
    def from_node(cls, node: Node) -> SwitchboardConfig:
        return cls.from_mapping(dict(node.get_all_context()))


def _removal(choice: RemovalChoice) -> RemovalPolicy:
    return RemovalPolicy.RETAIN if choice == "retain" else RemovalPolicy.DESTROY
