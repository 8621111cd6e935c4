"""The HTTP API: a regional REST API proxying its routes to the router function.

REST rather than HTTP API: its integration timeout can be raised above 29 s by quota (long cascades), and it
has usage plans, API keys, X-Ray and stage throttling built in. Authorisation is chosen by context:
- ``keys`` (default): ``Authorization: Bearer <key>``, which every OpenAI client sends as is, checked by the
  router against the keys table (hashed keys, each with an optional budget that is a cap; ``service.api_keys``).
  API Gateway's own API keys cannot do this: they are read from ``x-api-key`` only, and carry no budget.
- ``api_key``: every method requires an API Gateway API key (``x-api-key``), attached to a usage plan that
  throttles per key; the OpenAI SDK sends it with ``default_headers={"x-api-key": ...}``.
- ``iam``: SigV4-signed requests (``AWS_IAM``); grant ``execute-api:Invoke`` to the callers' roles.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import nag
from infra.config import SwitchboardConfig
from switchboard.http.routes import ROUTES

STAGE = "prod"  # the sample events under events/router/ carry this stage


def _streaming(config: SwitchboardConfig) -> dict:
    """STREAM response transfer mode (InvokeWithResponseStream), whose integration may run past 29 s."""
    if not config.streaming:
        return {}
    return {"response_transfer_mode": apigw.ResponseTransferMode.STREAM,
            "timeout": Duration.seconds(config.streaming_timeout_seconds)}


class Api(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: SwitchboardConfig,
                 handler: lambda_.IFunction) -> None:
        super().__init__(scope, construct_id)
        iam_auth = config.api_auth == "iam"
        gateway_keys = config.api_auth == "api_key"
        self.api_key: apigw.IApiKey | None = None
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=config.log_retention,
                                         removal_policy=RemovalPolicy.DESTROY)
        self.rest_api = apigw.RestApi(
            self, "RestApi",
            description="Switchboard LLM gateway",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Account-wide setting: the role is retained on stack deletion so that other APIs of the
            # account keep logging (RETAIN is also CDK's default).
            cloud_watch_role=config.api_gateway_cloudwatch_role,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                tracing_enabled=True,
                throttling_rate_limit=config.throttle_rate_limit,
                throttling_burst_limit=config.throttle_burst_limit,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # full request logging would put prompts into CloudWatch
                metrics_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True, http_method=True, ip=True, protocol=True, request_time=True,
                    resource_path=True, response_length=True, status=True, user=True),
            ),
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.IAM if iam_auth else apigw.AuthorizationType.NONE,
                api_key_required=gateway_keys),
            # One permission per method is enough; test-invoke permissions double the resource policy.
            default_integration=apigw.LambdaIntegration(handler, allow_test_invoke=False, **_streaming(config)),
        )
        # Parameters are checked at the edge; bodies are validated by the handler (pydantic) so errors keep
        # the OpenAI error shape the SDK understands.
        validator = self.rest_api.add_request_validator("Parameters", validate_request_parameters=True,
                                                        validate_request_body=False)
        for route in ROUTES:  # the API's one route table (its pages only with switchboard:ui)
            if route.page and not config.ui:
                continue
            resource = self.rest_api.root.resource_for_path(route.resource_path)
            params = {f"method.request.path.{p}": True for p in route.params}
            resource.add_method(route.method, request_parameters=params or None, request_validator=validator)
        if gateway_keys:
            self._usage_plan(config)
        self._acknowledge(config.api_auth)

    def _usage_plan(self, config: SwitchboardConfig) -> None:
        self.api_key = self.rest_api.add_api_key("ApiKey", description="Switchboard default client key")
        plan = self.rest_api.add_usage_plan(
            "UsagePlan", description="Switchboard default plan",
            throttle=apigw.ThrottleSettings(rate_limit=config.throttle_rate_limit,
                                            burst_limit=config.throttle_burst_limit))
        plan.add_api_key(self.api_key)
        plan.add_api_stage(stage=self.rest_api.deployment_stage)

    def _acknowledge(self, api_auth: str) -> None:
        nag.acknowledge(self.rest_api, "AwsSolutions-APIG2", reason=(
            "Request parameters are validated by API Gateway; bodies are validated by the router with "
            "pydantic so that invalid requests get OpenAI-shaped error bodies the OpenAI SDK can parse."))
        nag.acknowledge(self.rest_api, "AwsSolutions-APIG3", reason=(
            "No WAF web ACL by default: the API is for back-end services, throttled per stage and per "
            "usage plan; attach a WAFv2 web ACL to the stage where the API is exposed to the internet."))
        nag.acknowledge(self.rest_api, "AwsSolutions-IAM4", findings=[
            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"],
            reason=("The account-level role API Gateway uses to write access and execution logs; this AWS "
                    "managed policy is the one API Gateway documents for it and grants logs actions only."))
        if api_auth == "keys":
            nag.acknowledge(self.rest_api, "AwsSolutions-APIG4", reason=(
                "Authorised by the router (switchboard:apiAuth=keys): every route but the health check and "
                "the OpenAPI document needs Authorization: Bearer with a key of the keys table (stored hashed, with "
                "a budget). Set switchboard:apiAuth=iam for SigV4 (IAM) authorisation at the edge."))
            nag.acknowledge(self.rest_api, "AwsSolutions-COG4", reason=(
                "No Cognito user pool: callers are services authorised by bearer keys (or IAM), not users."))
        elif api_auth == "api_key":
            nag.acknowledge(self.rest_api, "AwsSolutions-APIG4", reason=(
                "Authorised by API key + usage plan (switchboard:apiAuth=api_key): callers are services, "
                "not end users. Set switchboard:apiAuth=iam for SigV4 (IAM) authorisation."))
            nag.acknowledge(self.rest_api, "AwsSolutions-COG4", reason=(
                "No Cognito user pool: callers are services authorised by API key (or IAM), not users."))
        else:
            nag.acknowledge(self.rest_api, "AwsSolutions-COG4", reason=(
                "Authorised with IAM (SigV4), which is stronger for service callers than a user pool."))

