"""The cascade: the Express state machine and its five task functions (tier, judge, decide, compose, record).

The definition is the contract with the handlers and with the local stack (which runs the *synthesised*
definition), so its state names and JSON paths are fixed:

    Mode ─┬─ "parts" ─▶ RunParts (Map over $.decomposition.parts: each item the same cascade as below,
          │                its states prefixed "Part", ending in PartDone) ─▶ Compose ─▶ Record
          │             RunParts ─ Catch ▶ PartsFailed ─▶ Record;  Compose ─ Catch ▶ ComposeFailed ─▶ Record
          └─ otherwise ─▶
    CallTier ─▶ Judged ─┬─ $.current.judged ─▶ RunJudges (Map: Judge | JudgeAbstains) ─▶ Decide
       │                └─ otherwise (a tier without judges) ─────────────────────────▶ Decide
       └─ Catch States.ALL → $.current ───────────────────────────────────────────────▶ Decide
    Decide ─▶ Route ─┬─ escalate ─▶ CallTier
                     └─ otherwise ─▶ Record ─▶ Done
    Decide ─ Catch ▶ DecideFailed ─▶ Record;   Record ─ Catch ($.record_error) ▶ Done

A decomposed request (``mode`` "parts", set by the router) runs one cascade per part, all at once: the
parts' states are the Map's items, each a whole cascade state of its own, run by the same tier, judge and
decide functions; ``compose`` then makes one answer of them and Record stores the one trace.

Every task has a TimeoutSeconds below its function's timeout, and every state that can fail has a Catch
that ends in Record (or, for Record itself, in Done with ``record_error`` set, which the router sees).

JSONPath throughout (the local interpreter has no JSONata). Every task uses ``payload_response_only`` so
the state's Resource is the function ARN and the handler receives the state as-is.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra import ids, lint, nag
from infra.config import SwitchboardConfig
from infra.constructs.lambda_defaults import ARCHITECTURES, SwitchboardFunction
from infra.constructs.layers import LEARNED_ROUTER_MOUNT
from infra.constructs.storage import Storage
from switchboard import envvars as names
from switchboard.domain.release import BLOB_PREFIX

# Errors Lambda raises when the *service* hiccups (not the handler): always worth one more try.
TRANSIENT_LAMBDA_ERRORS = ["Lambda.ServiceException", "Lambda.AWSLambdaException",
                           "Lambda.SdkClientException", "Lambda.TooManyRequestsException"]
# Raised by the tier handler (error type = exception class name) when a provider times out or is down.
PROVIDER_ERRORS = ["ProviderTimeout", "ProviderUnavailable"]
# What a judge that failed (after its retries) contributes: an abstention. jsii drops None values on the
# way to the CDK, so "score" is absent from the rendered Pass result; the Verdict model reads that as None.
JUDGE_ABSTAINS = {"judge": "unavailable", "kind": "llm_judge", "score": None, "cost_usd": 0.0,
                  "detail": "judge task failed", "failed": True}
# What a failed Decide task leaves: a stop with no answer, so Record keeps the trace and the router answers
# with a traced error rather than the execution failing without one.
DECIDE_FAILED = {"action": "stop", "reason": "decide_failed", "verified": False}
# What a failed Map over the parts, or a failed Compose task, leaves: a stop without an answer, recorded.
PARTS_FAILED = {"action": "stop", "reason": "parts_failed", "verified": False}
COMPOSE_FAILED = {"action": "stop", "reason": "compose_failed", "verified": False}
# Per-task time limits (seconds), below each function's own timeout; the request's deadline, carried in
# the state, normally ends provider calls long before these.
TASK_TIMEOUTS = {"CallTier": 110, "Judge": 110, "Decide": 25, "Record": 10, "Compose": 10,
                 "PartCallTier": 110, "PartJudge": 110, "PartDecide": 25}
# Cross-region inference profiles carry a geography prefix before the foundation model id.
_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "jp.", "au.", "ca.", "global.")


def release_environment(storage: Storage) -> dict[str, str]:
    """Where a function finds the release in force: the Policy table's pointer, the bucket's files."""
    return {names.ENV_POLICY_TABLE: storage.policy.table_name,
            names.ENV_ARTIFACT_BUCKET: storage.artifacts.bucket_name}


def grant_release_reads(storage: Storage, fn: SwitchboardFunction) -> None:
    """Read the release pointer, and GetObject on the bucket's blobs - no listing, no other action; no
    other function is granted anything on the bucket."""
    storage.policy.grant_read_data(fn.function)
    fn.function.add_to_role_policy(iam.PolicyStatement(
        actions=["s3:GetObject"], resources=[storage.artifacts.arn_for_objects(f"{BLOB_PREFIX}*")]))
    nag.acknowledge(fn.function.role, "AwsSolutions-IAM5", (
        "GetObject on the artifact bucket's blobs/ prefix: a release names its files by sha256, which a "
        "deployment cannot know in advance, so the object key is a wildcard under that prefix."),
        findings=[f"Resource::<{ids.ARTIFACT_BUCKET}.Arn>/{BLOB_PREFIX}*"])


class Cascade(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: SwitchboardConfig, storage: Storage,
                 code: lambda_.Code, core_layer: lambda_.ILayerVersion, encoder_layer: lambda_.ILayerVersion,
                 routing_layer: lambda_.ILayerVersion | None = None, bedrock_models: Sequence[str] = ("*",),
                 secret_arns: Sequence[str] = ()) -> None:
        super().__init__(scope, construct_id)

        def function(construct_id: str, name: str, logical_id: str, description: str,
                     layers: Sequence[lambda_.ILayerVersion] = (core_layer,), **options) -> SwitchboardFunction:
            return SwitchboardFunction(self, construct_id, name=name, logical_id=logical_id, code=code,
                                       layers=list(layers), log_retention=config.log_retention,
                                       architecture=ARCHITECTURES[config.architecture],
                                       description=f"Switchboard: {description}", **options)

        model_call = {"memory_mb": 512, "timeout": Duration.seconds(120),  # a slow model, plus retries
                      "environment": {names.ENV_CATALOG_TABLE: storage.catalog.table_name}}
        self.tier = function("TierFn", "tier", ids.TIER_FN, "call one tier's model", **model_call)
        self.judge = function("JudgeFn", "judge", ids.JUDGE_FN, "one judge's verdict on a candidate",
                              **model_call)
        # decide fuses a dial plan's answers with the run's verifier (ONNX) and compares free-text answers
        # with the encoder, so it carries the onnxruntime layer and the routing models.
        # Its verifier is the one of the release a plan names (the Policy table's pointer, the artifact
        # bucket), or the one packaged in the routing layer.
        decide_layers = [core_layer, encoder_layer, *([routing_layer] if routing_layer is not None else [])]
        self.decide = function("DecideFn", "decide", ids.DECIDE_FN, "fuse, accept / escalate / stop (policy)",
                               layers=decide_layers, memory_mb=1024, timeout=Duration.seconds(30),
                               environment={**release_environment(storage),
                                            **({names.ENV_ROUTER_ARTIFACTS: LEARNED_ROUTER_MOUNT}
                                               if routing_layer is not None else {})})
        grant_release_reads(storage, self.decide)
        self.compose = function("ComposeFn", "compose", ids.COMPOSE_FN, "compose a decomposed request's parts",
                                timeout=Duration.seconds(15))
        self.record = function("RecordFn", "record", ids.RECORD_FN, "store the trace, publish metrics",
                               environment={names.ENV_TRACES_TABLE: storage.traces.table_name,
                                            names.ENV_TRACE_TTL_DAYS: str(config.trace_ttl_days)})

        self._bedrock_models, self._secret_arns = list(bedrock_models), list(secret_arns)
        for model_caller in (self.tier, self.judge):
            storage.catalog.grant_read_data(model_caller.function)
            self.grant_model_calls(model_caller)
        storage.traces.grant_write_data(self.record.function)

        self.log_group = logs.LogGroup(
            self, "Logs", retention=config.log_retention, removal_policy=RemovalPolicy.DESTROY,
            # The vendedlogs prefix keeps CloudWatch's resource policy from growing with every machine.
            log_group_name=f"/aws/vendedlogs/states/{Stack.of(self).stack_name}-cascade")
        self.state_machine = sfn.StateMachine(
            self, "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(self._definition()),
            state_machine_type=sfn.StateMachineType.EXPRESS,
            timeout=Duration.minutes(5),  # the Express maximum
            tracing_enabled=True,
            # ERROR only and no execution data: prompts and answers must not end up in CloudWatch Logs.
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ERROR,
                                include_execution_data=False),
        )
        ids.pin_logical_id(self.state_machine, ids.STATE_MACHINE)
        lint.acknowledge(self.state_machine, lint.REDUNDANT_ROLE_DEPENDENCY)
        self._acknowledge_state_machine_findings()

    # ---- definition --------------------------------------------------------------------------------
    def _invoke(self, state_id: str, fn: SwitchboardFunction, *, result_path: str | None = None
                ) -> tasks.LambdaInvoke:
        # No payload: the task's input ($) is sent as-is. No default retry: each state's policy is ours.
        return tasks.LambdaInvoke(self, state_id, lambda_function=fn.function, payload_response_only=True,
                                  retry_on_service_exceptions=False, result_path=result_path,
                                  task_timeout=sfn.Timeout.duration(Duration.seconds(TASK_TIMEOUTS[state_id])))

    @staticmethod
    def _retry(task: tasks.LambdaInvoke, errors: Sequence[str]) -> None:
        task.add_retry(errors=list(errors), interval=Duration.seconds(1), max_attempts=2, backoff_rate=2)

    def _definition(self) -> sfn.IChainable:
        done = sfn.Succeed(self, "Done")
        record = self._invoke("Record", self.record, result_path="$.record")
        # A failed trace write must not lose the answer: the router sees record_error and writes the trace.
        record.add_catch(done, errors=["States.ALL"], result_path="$.record_error")
        record.next(done)
        whole = self._cascade("", record)

        run_parts = sfn.Map(self, "RunParts", items_path="$.decomposition.parts",
                            result_path="$.decomposition.parts",
                            max_concurrency=0)  # every part at once
        run_parts.item_processor(self._cascade("Part", sfn.Succeed(self, "PartDone")))
        compose = self._invoke("Compose", self.compose, result_path="$")
        self._retry(compose, TRANSIENT_LAMBDA_ERRORS)
        run_parts.add_catch(sfn.Pass(self, "PartsFailed", result=sfn.Result.from_object(PARTS_FAILED),
                                     result_path="$.decision").next(record),
                            errors=["States.ALL"], result_path="$.parts_error")
        compose.add_catch(sfn.Pass(self, "ComposeFailed", result=sfn.Result.from_object(COMPOSE_FAILED),
                                   result_path="$.decision").next(record),
                          errors=["States.ALL"], result_path="$.compose_error")
        run_parts.next(compose).next(record)
        return (sfn.Choice(self, "Mode")
                .when(sfn.Condition.string_equals("$.mode", "parts"), run_parts)
                .otherwise(whole))

    def _cascade(self, prefix: str, end: sfn.IChainable) -> sfn.IChainable:
        """One cascade - tier, judges, decide, route - whose non-escalating decisions go to ``end``; its
        states are named with ``prefix`` (the whole request's have none, each part's "Part")."""
        call_tier = self._invoke(f"{prefix}CallTier", self.tier, result_path="$.current")
        self._retry(call_tier, PROVIDER_ERRORS + TRANSIENT_LAMBDA_ERRORS)

        judge = self._invoke(f"{prefix}Judge", self.judge)
        self._retry(judge, TRANSIENT_LAMBDA_ERRORS)
        judge.add_catch(sfn.Pass(self, f"{prefix}JudgeAbstains", result=sfn.Result.from_object(JUDGE_ABSTAINS)),
                        errors=["States.ALL"], result_path="$")
        run_judges = sfn.Map(
            self, f"{prefix}RunJudges",
            items_path="$.current.judges",
            item_selector={"judge": sfn.JsonPath.string_at("$$.Map.Item.Value"),
                           "request": sfn.JsonPath.string_at("$.request"),
                           "candidate": sfn.JsonPath.string_at("$.current.candidate"),
                           # answers bought earlier in the request: an agreement judge reuses its model's
                           "answers": sfn.JsonPath.string_at("$.answers"),
                           "deadline": sfn.JsonPath.string_at("$.deadline"),
                           "answer_bytes_cap": sfn.JsonPath.string_at("$.plan.answer_bytes_cap"),
                           # the request span's trace context: the judge's span joins the request's trace
                           "traceparent": sfn.JsonPath.string_at("$.traceparent")},
            max_concurrency=0,  # all judges at once (CDK leaves a 0 out; absent means 0, no limit)
            result_path="$.current.verdicts",
        )
        run_judges.item_processor(judge)

        decide = self._invoke(f"{prefix}Decide", self.decide, result_path="$")
        self._retry(decide, TRANSIENT_LAMBDA_ERRORS)
        # A failed tier (after its retries) is still decided on: the policy falls through to the next tier.
        call_tier.add_catch(decide, errors=["States.ALL"], result_path="$.current")
        # A failed decide ends in a stop without an answer, recorded like any other outcome.
        decide_failed = sfn.Pass(self, f"{prefix}DecideFailed", result=sfn.Result.from_object(DECIDE_FAILED),
                                 result_path="$.decision")
        decide.add_catch(decide_failed, errors=["States.ALL"], result_path="$.decide_error")
        decide_failed.next(end)

        route = (sfn.Choice(self, f"{prefix}Route")
                 .when(sfn.Condition.string_equals("$.decision.action", "escalate"), call_tier)
                 .otherwise(end))
        # A tier without judges (a pinned model, a budget that leaves none) goes straight to Decide: a Map
        # over no items costs a state transition and, locally, the interpreter's iteration machinery.
        judged = (sfn.Choice(self, f"{prefix}Judged")
                  .when(sfn.Condition.boolean_equals("$.current.judged", True), run_judges.next(decide))
                  .otherwise(decide))
        decide.next(route)
        return call_tier.next(judged)

    # ---- permissions -------------------------------------------------------------------------------
    def grant_model_calls(self, fn: SwitchboardFunction, stream: bool = False) -> None:
        """What calling the catalogue's models takes: Bedrock (these model ids; ``stream``: streaming calls
        too) and the secrets holding the API keys of openai/anthropic entries (read once per container,
        these only)."""
        if self._bedrock_models:
            self._grant_bedrock(fn, self._bedrock_models, stream)
        if self._secret_arns:
            fn.function.add_to_role_policy(iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"], resources=sorted(self._secret_arns)))

    def _grant_bedrock(self, fn: SwitchboardFunction, model_ids: Sequence[str], stream: bool) -> None:
        """bedrock:InvokeModel (which also authorises the Converse API; there is no bedrock:Converse action;
        InvokeModelWithResponseStream for ConverseStream, to a function that streams)
        on foundation models in any region (cross-region inference profiles route to other regions) and
        on this account's inference profiles in this region."""
        foundation = sorted({_foundation_model_id(m) for m in model_ids})
        resources = [f"arn:{Aws.PARTITION}:bedrock:*::foundation-model/{m}" for m in foundation]
        resources += [f"arn:{Aws.PARTITION}:bedrock:{Aws.REGION}:{Aws.ACCOUNT_ID}:inference-profile/{m}"
                      for m in sorted(set(model_ids))]
        # InvokeModelWithResponseStream authorises ConverseStream (a router that streams a single tier)
        actions = ["bedrock:InvokeModel", *(["bedrock:InvokeModelWithResponseStream"] if stream else [])]
        fn.function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=resources))
        reason = ("Bedrock access is limited to bedrock:InvokeModel on foundation models and this account's "
                  "inference profiles. The region is a wildcard because cross-region inference profiles "
                  "route to foundation models in other regions")
        if "*" in model_ids:
            reason += ("; the model id is a wildcard because the model catalogue lives in DynamoDB and "
                       "changes without a deployment (pin ids with the switchboard:bedrockModelIds context)")
        nag.acknowledge(fn.function.role, "AwsSolutions-IAM5", reason + ".",
                        findings=[_nag_arn(r) for r in resources if "*" in r])

    def _acknowledge_state_machine_findings(self) -> None:
        role = self.state_machine.role
        functions = [self.tier, self.judge, self.decide, self.compose, self.record]
        nag.acknowledge(role, "AwsSolutions-IAM5", reason=(
            "lambda:InvokeFunction on '<function ARN>:*' is how CDK grants invoking any version/alias of "
            "exactly the five cascade functions; the other wildcards are the CloudWatch Logs delivery and "
            "X-Ray actions, which do not support resource-level permissions."),
            findings=[f"Resource::<{_logical_id(fn.function)}.Arn>:*" for fn in functions] + ["Resource::*"])
        nag.acknowledge(self.state_machine, "AwsSolutions-SF1", (
            "Logging level ERROR without execution data, on purpose: ALL would write every prompt and "
            "answer (execution data) or a per-state event stream of little value into CloudWatch Logs; "
            "traces with the full cascade are stored in DynamoDB by the Record state."))


def _foundation_model_id(model_id: str) -> str:
    for prefix in _PROFILE_PREFIXES:
        if model_id.startswith(prefix):
            return model_id[len(prefix):]
    return model_id


def _nag_arn(resource: str) -> str:
    """The form cdk-nag reports a resource in: pseudo parameters as <AWS::Name>."""
    text = resource
    for token, name in ((Aws.PARTITION, "AWS::Partition"), (Aws.REGION, "AWS::Region"),
                        (Aws.ACCOUNT_ID, "AWS::AccountId")):
        text = text.replace(token, f"<{name}>")
    return f"Resource::{text}"


def _logical_id(construct: Construct) -> str:
    """The (pinned) logical id, as cdk-nag prints it in a finding (``<LogicalId.Arn>``)."""
    return Stack.of(construct).resolve(construct.node.default_child.logical_id)  # type: ignore[union-attr]
