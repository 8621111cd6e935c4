"""The synthesised template has the resources the runtime and the local stack rely on, as designed."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from switchboard import envvars as names
from tests.infra.support import Synth

FUNCTIONS = {  # logical id -> (handler, memory MB, timeout s, layer count)
    "RouterFn": ("router.handler.lambda_handler", 1024, 29, 2),
    "TierFn": ("tier.handler.lambda_handler", 512, 120, 1),
    "JudgeFn": ("judge.handler.lambda_handler", 512, 120, 1),
    "DecideFn": ("decide.handler.lambda_handler", 1024, 30, 2),  # core + encoder (verifier, text equivalence)
    "ComposeFn": ("compose.handler.lambda_handler", 256, 15, 1),
    "RecordFn": ("record.handler.lambda_handler", 256, 10, 1),
}
TABLES = {"TracesTable": "trace_id", "CatalogTable": "model_id", "TaxonomyTable": "category",
          "PolicyTable": "name", "KeysTable": "key_hash", "ResponsesTable": "response_id",
          "SessionsTable": "session"}


@pytest.fixture(scope="module")
def template(synth: Synth) -> Template:
    return Template.from_json(synth.template)


EXPIRING = ("TracesTable", "ResponsesTable", "SessionsTable")


def _ref(logical_id: str) -> dict:
    return {"Ref": logical_id}


# ---- tables ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("logical_id", "key"), TABLES.items())
def test_table_is_on_demand_with_pitr_and_string_key(synth: Synth, logical_id: str, key: str) -> None:
    props = synth.template["Resources"][logical_id]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
    assert props["AttributeDefinitions"][0] == {"AttributeName": key, "AttributeType": "S"}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}  # AWS-managed KMS key


def test_only_the_traces_table_has_an_index_the_one_its_listing_queries(synth: Synth) -> None:
    from switchboard.adapters.stores import trace_listing

    tables = synth.resources("AWS::DynamoDB::Table")
    assert [lid for lid, t in tables.items() if "GlobalSecondaryIndexes" in t["Properties"]] == ["TracesTable"]
    props = tables["TracesTable"]["Properties"]
    assert props["GlobalSecondaryIndexes"] == [{
        "IndexName": trace_listing.INDEX, "Projection": {"ProjectionType": "KEYS_ONLY"},
        "KeySchema": [{"AttributeName": trace_listing.OWNER, "KeyType": "HASH"},
                      {"AttributeName": trace_listing.CREATED_AT, "KeyType": "RANGE"}]}]
    assert {d["AttributeName"] for d in props["AttributeDefinitions"]} == {"trace_id", "owner", "created_at"}
    for logical_id in (lid for lid in TABLES if lid != "TracesTable"):
        assert len(tables[logical_id]["Properties"]["AttributeDefinitions"]) == 1


def test_only_traces_stored_responses_and_sessions_expire(synth: Synth) -> None:
    tables = synth.resources("AWS::DynamoDB::Table")
    assert set(tables) == set(TABLES)
    for expiring in EXPIRING:
        assert tables[expiring]["Properties"]["TimeToLiveSpecification"] == {
            "AttributeName": "expires_at", "Enabled": True}
    others = [t for lid, t in tables.items() if lid not in EXPIRING]
    assert all("TimeToLiveSpecification" not in t["Properties"] for t in others)


def test_tables_are_retained_by_default(synth: Synth) -> None:
    for logical_id in TABLES:
        assert synth.template["Resources"][logical_id]["DeletionPolicy"] == "Retain"


# ---- functions -------------------------------------------------------------------------------------
# The one function CDK adds: the provider of the custom resources that seed the default catalogue.
SDK_CALL_PROVIDER = "AWS679f53fac002430cb0da5b7982bd2287"


def test_exactly_the_five_switchboard_functions_exist(synth: Synth) -> None:
    others = {f for f in synth.resources("AWS::Lambda::Function") if not f.startswith(SDK_CALL_PROVIDER)}
    assert others == set(FUNCTIONS)


def test_a_fresh_stack_seeds_the_default_bedrock_catalogue_without_overwriting(synth: Synth) -> None:
    import json as _json

    from infra.config import BEDROCK_CATALOG

    shipped = _json.loads(BEDROCK_CATALOG.read_text(encoding="utf-8"))
    seeds = [r["Properties"] for r in synth.resources("Custom::AWS").values()]
    calls = [_json.loads("".join(str(p) if isinstance(p, str) else "<ref>" for p in s["Create"]["Fn::Join"][1]))
             for s in seeds]
    assert sorted(c["parameters"]["Item"]["model_id"]["S"] for c in calls) == sorted(e["model_id"] for e in shipped)
    assert {c["action"] for c in calls} == {"putItem"}
    assert {c["parameters"]["ConditionExpression"] for c in calls} == {"attribute_not_exists(model_id)"}
    assert all("Update" not in s for s in seeds)  # never rewritten by a later deploy
    families = {e["provider_model"].split(".")[0] for e in shipped}
    assert len(families) >= 2 and {e["provider"] for e in shipped} == {"bedrock"}


def test_bedrock_access_defaults_to_exactly_the_catalogue_models(synth: Synth) -> None:
    import json as _json

    from infra.config import BEDROCK_CATALOG

    shipped = {e["provider_model"] for e in _json.loads(BEDROCK_CATALOG.read_text(encoding="utf-8"))}
    statements = [s for s in _policy_statements(synth, "TierFn") if "bedrock:InvokeModel" in _actions(s)]
    text = _json.dumps(statements)
    assert "foundation-model/*" not in text and "inference-profile/*" not in text
    for model in shipped:
        assert f"foundation-model/{model}" in text


@pytest.mark.parametrize(("logical_id", "expected"), FUNCTIONS.items())
def test_function_uses_the_project_lambda_defaults(synth: Synth, logical_id: str, expected: tuple) -> None:
    handler, memory, timeout, layers = expected
    props = synth.template["Resources"][logical_id]["Properties"]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]  # every wheel of the layers exists for it (infra.layer_spec)
    assert props["Handler"] == handler
    assert (props["MemorySize"], props["Timeout"]) == (memory, timeout)
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert len(props["Layers"]) == layers
    assert "LogGroup" in props["LoggingConfig"]  # its own log group, with retention


def test_function_environments_use_the_runtime_variable_names(synth: Synth) -> None:
    env = {lid: synth.template["Resources"][lid]["Properties"].get("Environment", {}).get("Variables", {})
           for lid in FUNCTIONS}
    assert env["RouterFn"] == {
        names.ENV_TRACES_TABLE: _ref("TracesTable"), names.ENV_CATALOG_TABLE: _ref("CatalogTable"),
        names.ENV_TAXONOMY_TABLE: _ref("TaxonomyTable"), names.ENV_POLICY_TABLE: _ref("PolicyTable"),
        names.ENV_ARTIFACT_BUCKET: _ref("ArtifactBucket"),
        names.ENV_KEYS_TABLE: _ref("KeysTable"), names.ENV_REQUIRE_KEYS: "true",
        names.ENV_RESPONSES_TABLE: _ref("ResponsesTable"), names.ENV_SESSIONS_TABLE: _ref("SessionsTable"),
        names.ENV_STATE_MACHINE_ARN: _ref("CascadeStateMachine"),
        names.ENV_ORCHESTRATION: "sync", names.ENV_TRACE_TTL_DAYS: "30",
        names.ENV_REQUEST_DEADLINE_S: "24", names.ENV_JOB_DEADLINE_S: "270",  # below API Gateway's 29 s integration timeout
        names.ENV_DECOMPOSITION: "false",  # switchboard:decomposition, off by default
        names.ENV_SLOW_CLASSIFIER: "false"}  # switchboard:slowClassifier grants the router its model calls
    assert env["TierFn"] == env["JudgeFn"] == {names.ENV_CATALOG_TABLE: _ref("CatalogTable")}
    # the decide function finds the verifier of the release a plan names
    assert env["DecideFn"] == {names.ENV_POLICY_TABLE: _ref("PolicyTable"),
                               names.ENV_ARTIFACT_BUCKET: _ref("ArtifactBucket")}
    assert env["RecordFn"] == {names.ENV_TRACES_TABLE: _ref("TracesTable"), names.ENV_TRACE_TTL_DAYS: "30"}
    assert env["ComposeFn"] == {}  # composing is pure: no table, no model


def test_router_and_decide_have_the_encoder_layer_and_the_others_only_core(synth: Synth) -> None:
    layers = {lid: synth.template["Resources"][lid]["Properties"]["Layers"] for lid in FUNCTIONS}
    core = layers["DecideFn"][0]
    assert all(value[0] == core for value in layers.values())
    assert layers["RouterFn"][1] != core and layers["DecideFn"][1] == layers["RouterFn"][1]


def _policy_statements(synth: Synth, function_id: str) -> list[dict]:
    role = synth.template["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [p["Properties"] for p in synth.resources("AWS::IAM::Policy").values()]
    return [s for p in policies if {"Ref": role} in p["Roles"] for s in p["PolicyDocument"]["Statement"]]


def _actions(statement: dict) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_router_may_start_executions_of_the_cascade_only(synth: Synth) -> None:
    # sync executions for requests, async ones for jobs (POST /v1/route with "async": true)
    statements = [s for s in _policy_statements(synth, "RouterFn")
                  if {"states:StartSyncExecution", "states:StartExecution"} & _actions(s)]
    assert statements == [{"Action": ["states:StartExecution", "states:StartSyncExecution"], "Effect": "Allow",
                           "Resource": _ref("CascadeStateMachine")}]


def test_only_tier_and_judge_may_invoke_bedrock_by_default(synth: Synth) -> None:
    """The router calls models only with an option that needs it (decomposition, the slow classifier,
    streaming: tests/infra/test_lint_and_nag.py)."""
    for function_id in FUNCTIONS:
        bedrock = [s for s in _policy_statements(synth, function_id)
                   if any(a.startswith("bedrock:") for a in _actions(s))]
        if function_id in ("TierFn", "JudgeFn"):
            assert [_actions(s) for s in bedrock] == [{"bedrock:InvokeModel"}]
        else:
            assert bedrock == []


def test_record_can_write_traces_but_not_read_the_catalog(synth: Synth) -> None:
    statements = _policy_statements(synth, "RecordFn")
    writes = [s for s in statements if "dynamodb:PutItem" in _actions(s)]
    table = {"Fn::GetAtt": ["TracesTable", "Arn"]}
    # CDK's table grants name the table's indexes too (<table>/index/*), where no write can go
    assert [s["Resource"] for s in writes] == [[table, {"Fn::Join": ["", [table, "/index/*"]]}]]
    assert not any("CatalogTable" in str(s["Resource"]) for s in statements)


# ---- state machine, API, observability ---------------------------------------------------------------
def test_cascade_is_an_express_machine_with_error_logging_and_tracing(template: Template) -> None:
    template.resource_count_is("AWS::StepFunctions::StateMachine", 1)
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {
        "StateMachineType": "EXPRESS",
        "TracingConfiguration": {"Enabled": True},
        "LoggingConfiguration": Match.object_like({"Level": "ERROR", "IncludeExecutionData": False}),
    })


def test_api_is_regional_with_every_route_of_the_openapi_document(synth: Synth) -> None:
    api = next(iter(synth.resources("AWS::ApiGateway::RestApi").values()))
    assert api["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    paths = {}
    for lid, resource in synth.resources("AWS::ApiGateway::Resource").items():
        paths[lid] = resource["Properties"]["PathPart"], resource["Properties"]["ParentId"]

    def full_path(ref: dict) -> str:
        if "Ref" not in ref:
            return ""
        part, parent = paths[ref["Ref"]]
        return f"{full_path(parent)}/{part}"

    routes = {(m["Properties"]["HttpMethod"], full_path(m["Properties"]["ResourceId"]))
              for m in synth.resources("AWS::ApiGateway::Method").values()}
    assert routes == {("POST", "/v1/chat/completions"), ("POST", "/v1/messages"), ("POST", "/v1/route"),
                      ("POST", "/v1/responses"), ("GET", "/v1/responses/{response_id}"),
                      ("GET", "/v1/models"),
                      ("GET", "/v1/jobs/{job_id}"),
                      ("GET", "/v1/traces"), ("GET", "/v1/traces/{trace_id}"), ("POST", "/v1/feedback"),
                      ("GET", "/openapi.json"), ("GET", "/health")}  # no /ui: switchboard:ui is off by default


def test_every_route_proxies_to_the_router_which_checks_bearer_keys(synth: Synth) -> None:
    # Default apiAuth "keys": API Gateway passes Authorization through; the router checks it against the
    # keys table (SB_REQUIRE_KEYS=true, see test_function_environments...), so no gateway key or usage plan.
    for method in synth.resources("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        assert props["AuthorizationType"] == "NONE" and props.get("ApiKeyRequired") in (None, False)
        assert props["Integration"]["Type"] == "AWS_PROXY"
        assert "RouterFn" in str(props["Integration"]["Uri"])
    assert len(synth.resources("AWS::ApiGateway::UsagePlan")) == 0
    assert len(synth.resources("AWS::ApiGateway::ApiKey")) == 0


def test_the_router_may_reserve_and_settle_spend_in_the_keys_table(synth: Synth) -> None:
    policies = [p for p in synth.resources("AWS::IAM::Policy").values()
                if any("RouterFn" in str(r) for r in p["Properties"].get("Roles", []))]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    keys = [s for s in statements if "KeysTable" in str(s["Resource"])]
    assert keys and any("dynamodb:UpdateItem" in s["Action"] for s in keys)
    responses = [s for s in statements if "ResponsesTable" in str(s["Resource"])]
    assert responses and any("dynamodb:PutItem" in s["Action"] for s in responses)


def test_stage_is_throttled_traced_and_access_logged(template: Template) -> None:
    template.has_resource_properties("AWS::ApiGateway::Stage", {
        "StageName": "prod",
        "TracingEnabled": True,
        "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
        "MethodSettings": Match.array_with([Match.object_like({
            "ThrottlingRateLimit": 20, "ThrottlingBurstLimit": 40, "LoggingLevel": "ERROR",
            "DataTraceEnabled": False})]),
    })


def test_hourly_spend_alarm_watches_recorded_cost(template: Template) -> None:
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "Namespace": "Switchboard", "MetricName": "CostUSD",
        "Dimensions": [{"Name": "service", "Value": "switchboard"}],
        "Statistic": "Sum", "Period": 3600, "Threshold": 5, "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold", "AlarmActions": [Match.any_value()],
    })


def test_router_errors_and_failed_executions_raise_alarms(template: Template) -> None:
    template.resource_count_is("AWS::CloudWatch::Alarm", 3)
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "Namespace": "AWS/Lambda", "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "RouterFn"}}]})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "Namespace": "AWS/States", "MetricName": "ExecutionsFailed",
        "Dimensions": [{"Name": "StateMachineArn", "Value": {"Ref": "CascadeStateMachine"}}]})


def test_alarm_topic_is_encrypted_and_ssl_only(template: Template) -> None:
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    deny_plain_http = Match.object_like({"Effect": "Deny",
                                         "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    template.has_resource_properties("AWS::SNS::TopicPolicy", {
        "PolicyDocument": {"Statement": Match.array_with([deny_plain_http])}})
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_dashboard_shows_cost_requests_escalations_and_latency(synth: Synth) -> None:
    dashboard = next(iter(synth.resources("AWS::CloudWatch::Dashboard").values()))
    body = str(dashboard["Properties"]["DashboardBody"])
    for metric in ("CostUSD", "Requests", "Escalations", "Duration"):
        assert metric in body


def test_outputs_name_the_api_machine_and_tables(synth: Synth) -> None:
    outputs = synth.template["Outputs"]
    assert {"ApiUrl", "OpenAIBaseUrl", "StateMachineArn", "TracesTableName", "CatalogTableName",
            "TaxonomyTableName", "KeysTableName"} <= set(outputs)
    assert outputs["TracesTableName"]["Value"] == _ref("TracesTable")


def test_the_artifact_bucket_is_private_encrypted_versioned_and_read_only_by_router_and_decide(synth: Synth) -> None:
    import json as _json

    bucket = synth.template["Resources"]["ArtifactBucket"]
    props = bucket["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"}
    assert props["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                       "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rule = props["LifecycleConfiguration"]["Rules"][0]
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30} and rule["Status"] == "Enabled"
    assert bucket["DeletionPolicy"] == "Retain"  # a rollback needs its releases
    policy = next(iter(synth.resources("AWS::S3::BucketPolicy").values()))
    denied = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert denied and denied[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    readers = set()
    for lid in FUNCTIONS:
        for statement in _policy_statements(synth, lid):
            if "ArtifactBucket" in _json.dumps(statement.get("Resource")):
                assert _actions(statement) == {"s3:GetObject"}  # no listing, no writes
                readers.add(lid)
    assert readers == {"RouterFn", "DecideFn"}


def test_sam_env_vars_resolve_every_reference_in_a_function_environment_from_the_stack_outputs(synth: Synth) -> None:
    from infra.sam_env import env_vars

    outputs = {key: f"physical-{key}" for key in synth.template["Outputs"]}
    resolved, unresolved = env_vars(synth.template, outputs)
    assert unresolved == []
    assert resolved["RecordFn"] == {"SB_TRACES_TABLE": "physical-TracesTableName"}
    assert resolved["RouterFn"][names.ENV_STATE_MACHINE_ARN] == "physical-StateMachineArn"
    assert resolved["DecideFn"][names.ENV_ARTIFACT_BUCKET] == "physical-ArtifactBucketName"
    assert set(resolved) == set(FUNCTIONS) - {"ComposeFn"}  # composing refers to no resource
    assert env_vars(synth.template, {})[1]  # without the outputs, nothing is resolved and it says so
