"""SwitchboardStack: storage, layers, the cascade, the API and observability, wired together."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Annotations, CfnOutput, Duration, Fn, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import ids, nag
from infra.config import ROUTER_ALIAS, SNAPSTART_DOC, ConfigError, SwitchboardConfig
from infra.constructs.api import Api
from infra.constructs.cascade_machine import Cascade, grant_release_reads, release_environment
from infra.constructs.lambda_defaults import (
    ARCHITECTURES,
    RUNTIME,
    SwitchboardFunction,
    code_size,
    function_code,
)
from infra.constructs.layers import LEARNED_ROUTER_MOUNT, SwitchboardLayers, learned_router_layer
from infra.constructs.observability import Observability
from infra.constructs.storage import Storage
from infra.layer_spec import Part, size_problems
from switchboard import envvars as names
from switchboard.http.routes import READINESS_PATH

# A request's deadline: API Gateway's integration timeout is 29 s; the router needs a moment after the
# cascade stops to answer (and to write a failure trace).
REQUEST_DEADLINE_S = 24
JOB_DEADLINE_S = 270


class DeploymentTooLarge(RuntimeError):
    """A function with its layers over Lambda's size limits: the synth fails rather than the deployment."""


class SwitchboardStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: SwitchboardConfig, root: Path,
                 **kwargs) -> None:
        super().__init__(scope, construct_id, description="Switchboard: self-optimising LLM gateway",
                         **kwargs)
        self.config = config
        self.root = root
        self.storage = Storage(self, "Storage", traces_removal=config.traces_removal,
                               reference_removal=config.reference_tables_removal)
        nag.acknowledge(self, "AwsSolutions-IAM5", findings=["Resource::<TracesTable.Arn>/index/*"], reason=(
            "CDK's grants on a table with an index cover its indexes as <table>/index/*; the traces table has "
            "one (by-owner, keys only), which the router queries for a caller's newest traces."))
        self.architecture = ARCHITECTURES[config.architecture]
        self.layers = SwitchboardLayers(self, "Layers", root=root, build=config.layers == "build",
                                        architecture=self.architecture)
        if not self.layers.built:
            Annotations.of(self).add_warning_v2(
                "switchboard:layers-not-built",
                "Lambda layers are placeholders (-c switchboard:layers=placeholder): this template is NOT "
                "deployable. Synthesise with the default context (switchboard:layers=build) to deploy.")
        code = function_code(str(root / "functions"))
        # The training run's ONNX models (learned router, verifier), for the router and decide functions.
        self.routing_layer: lambda_.LayerVersion | None = None
        self.routing_size: Part | None = None
        if config.router_artifacts is not None:
            self.routing_layer, self.routing_size = learned_router_layer(
                self, "LearnedRouter", root=root, directory=config.router_artifacts, architecture=self.architecture)
        self.cascade = Cascade(self, "Cascade", config=config, storage=self.storage, code=code,
                               core_layer=self.layers.core, encoder_layer=self.layers.encoder,
                               routing_layer=self.routing_layer, bedrock_models=config.bedrock_models(root),
                               secret_arns=config.secrets(root))
        self.default_catalog = config.default_catalog_entries(root)
        if self.default_catalog:
            self.storage.seed_catalog(self.default_catalog)
        self.router = self._router(config, code)
        self.router_alias = self._router_alias(config)
        self.api = Api(self, "Api", config=config, handler=self.router_alias or self.router.function)
        self.observability = Observability(self, "Observability", config=config, router=self.router.function,
                                           state_machine=self.cascade.state_machine)
        self._outputs()
        self._check_sizes()

    @property
    def functions(self) -> dict[str, SwitchboardFunction]:
        """The five functions by their (pinned) logical id."""
        cascade = self.cascade
        return {ids.ROUTER_FN: self.router, ids.TIER_FN: cascade.tier, ids.JUDGE_FN: cascade.judge,
                ids.DECIDE_FN: cascade.decide, ids.RECORD_FN: cascade.record}

    def function_parts(self, fn: SwitchboardFunction) -> list[Part] | None:
        """What ``fn`` deploys, measured: its code and each layer built here (None when the layers are not
        measured: placeholders, or a synth that skips bundling). AWS's public layers are not counted."""
        parts = [Part("code", code_size(self.root / "functions"), is_layer=False)]
        for layer in fn.layers:
            part = self.routing_size if layer is self.routing_layer else self.layers.size_of(layer)
            if part is None and layer in (self.layers.core, self.layers.encoder):
                return None
            parts += [part] if part is not None else []
        return parts

    def _check_sizes(self) -> None:
        """Every function within Lambda's limits, or the synth fails saying which and by how much."""
        problems = []
        for logical_id, fn in self.functions.items():
            parts = self.function_parts(fn)
            problems += size_problems(logical_id, parts) if parts is not None else []
        if problems:
            raise DeploymentTooLarge("the Lambda functions would not deploy: " + "; ".join(problems))

    def _router(self, config: SwitchboardConfig, code: lambda_.Code) -> SwitchboardFunction:
        storage, machine = self.storage, self.cascade.state_machine
        layers = [self.layers.core, self.layers.encoder]
        learned: dict[str, str] = {}
        if self.routing_layer is not None:
            layers.append(self.routing_layer)
            learned[names.ENV_ROUTER_ARTIFACTS] = LEARNED_ROUTER_MOUNT
        streaming: dict[str, str] = {}
        deadline_s, timeout_s, handler = REQUEST_DEADLINE_S, 29, None
        if config.streaming:
            # The Lambda Web Adapter runs router/run.sh (an HTTP server over the same handler) and streams
            # what it writes (docs/architecture.md, "Streaming").
            layers.append(lambda_.LayerVersion.from_layer_version_arn(
                self, "WebAdapter", Fn.sub(config.web_adapter_arn)))
            streaming = {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap", "AWS_LWA_INVOKE_MODE": "response_stream",
                         "AWS_LWA_PORT": "8080", "AWS_LWA_READINESS_CHECK_PATH": READINESS_PATH,
                         # a single-tier plan's tokens come from the router itself (it may call the models)
                         names.ENV_STREAM_TOKENS: "true"}
            timeout_s, handler = config.streaming_timeout_seconds, "router/run.sh"
            deadline_s = config.streaming_timeout_seconds - 10  # room to answer and write a failure trace
        if config.router_snap_start and not RUNTIME.supports_snap_start:
            raise ConfigError(f"switchboard:routerSnapStart: Lambda SnapStart does not support the functions' "
                              f"runtime {RUNTIME.name} (Python needs python3.12 or later: {SNAPSTART_DOC}); "
                              "deploy without it, or with switchboard:routerProvisionedConcurrency instead")
        router = SwitchboardFunction(
            self, "RouterFn", name="router", logical_id=ids.ROUTER_FN, code=code,
            layers=layers, handler=handler, architecture=self.architecture, snap_start=config.router_snap_start,
            log_retention=config.log_retention, memory_mb=1024,
            # 29 s: API Gateway's buffered integration timeout; a longer cascade is cut there anyway (with
            # streaming, the integration's own, longer timeout).
            timeout=Duration.seconds(timeout_s),
            description="Switchboard: HTTP API, routing and the cascade plan",
            environment={
                names.ENV_TRACES_TABLE: storage.traces.table_name,
                names.ENV_CATALOG_TABLE: storage.catalog.table_name,
                names.ENV_TAXONOMY_TABLE: storage.taxonomy.table_name,
                **release_environment(storage),
                names.ENV_KEYS_TABLE: storage.keys.table_name,
                names.ENV_RESPONSES_TABLE: storage.responses.table_name,
                names.ENV_SESSIONS_TABLE: storage.sessions.table_name,
                names.ENV_REQUIRE_KEYS: "true" if config.api_auth == "keys" else "false",
                names.ENV_STATE_MACHINE_ARN: machine.state_machine_arn,
                names.ENV_ORCHESTRATION: "sync",
                # The router writes a fallback trace when the cascade fails: same expiry as Record's.
                names.ENV_TRACE_TTL_DAYS: str(config.trace_ttl_days),
                # Every request ends before the integration's timeout cuts it off untraced.
                names.ENV_REQUEST_DEADLINE_S: str(deadline_s),
                # A job runs asynchronously on the Express machine, whose executions last at most 5 minutes.
                names.ENV_JOB_DEADLINE_S: str(JOB_DEADLINE_S),
                **learned,
                **streaming,
                names.ENV_DECOMPOSITION: "true" if config.decomposition else "false",
                names.ENV_SLOW_CLASSIFIER: "true" if config.slow_classifier else "false",
                **({names.ENV_DECOMPOSER_MODEL: config.decomposer_model} if config.decomposer_model else {}),
            })
        storage.catalog.grant_read_data(router.function)
        storage.taxonomy.grant_read_data(router.function)
        grant_release_reads(storage, router)
        storage.keys.grant_read_write_data(router.function)  # reserve and settle spend
        storage.responses.grant_read_write_data(router.function)  # the Responses API's stored responses
        storage.sessions.grant_read_write_data(router.function)  # a session's model (service.affinity)
        storage.traces.grant_read_write_data(router.function)  # its index too: a caller's newest traces
        if config.streaming or config.slow_classifier or config.decomposition:  # it calls a model itself:
            self.cascade.grant_model_calls(router, stream=config.streaming)  # streaming, slow labels, decomposer
        machine.grant_start_sync_execution(router.function)
        machine.grant_start_execution(router.function)  # jobs (POST /v1/route with "async": true)
        return router

    def _router_alias(self, config: SwitchboardConfig) -> lambda_.Alias | None:
        """With routerSnapStart or routerProvisionedConcurrency: a version of RouterFn published on every
        change of its code or configuration (``current_version``), and the alias API Gateway invokes, which
        carries the provisioned concurrency. None (API Gateway invokes $LATEST) otherwise."""
        if not config.publishes_router_version:
            return None
        concurrency = config.router_provisioned_concurrency or None
        if config.router_snap_start:  # CDK cannot see that a version is published: it is, just below
            Annotations.of(self.router.function).acknowledge_warning(
                "@aws-cdk/aws-lambda:snapStartRequirePublish",
                "RouterFn's current_version is published and the alias API Gateway invokes points at it")
        return lambda_.Alias(
            self, "RouterAlias", alias_name=ROUTER_ALIAS, version=self.router.function.current_version,
            provisioned_concurrent_executions=concurrency,
            description="The router version API Gateway invokes"
                        + (" (SnapStart)" if config.router_snap_start else f" ({concurrency} provisioned)"))

    def _outputs(self) -> None:
        api = self.api.rest_api
        CfnOutput(self, "ApiUrl", value=api.url, description="Base URL of the API (stage included)")
        CfnOutput(self, "OpenAIBaseUrl", value=f"{api.url}v1",
                  description="base_url for the OpenAI SDK (POST {base_url}/chat/completions)")
        if self.api.api_key is not None:
            CfnOutput(self, "ApiKeyId", value=self.api.api_key.key_id,
                      description="aws apigateway get-api-key --include-value --api-key <id>")
        CfnOutput(self, "StateMachineArn", value=self.cascade.state_machine.state_machine_arn)
        CfnOutput(self, "TracesTableName", value=self.storage.traces.table_name)
        CfnOutput(self, "CatalogTableName", value=self.storage.catalog.table_name)
        CfnOutput(self, "TaxonomyTableName", value=self.storage.taxonomy.table_name)
        CfnOutput(self, "PolicyTableName", value=self.storage.policy.table_name)
        CfnOutput(self, "ArtifactBucketName", value=self.storage.artifacts.bucket_name,
                  description="switchboard publish DIR --stack <stack name> uploads a run's models here")
        CfnOutput(self, "KeysTableName", value=self.storage.keys.table_name,
                  description="switchboard keys create --stack <stack name> --name NAME --budget-usd N")
        CfnOutput(self, "ResponsesTableName", value=self.storage.responses.table_name)
        CfnOutput(self, "SessionsTableName", value=self.storage.sessions.table_name)
        CfnOutput(self, "AlarmTopicArn", value=self.observability.topic.topic_arn)
