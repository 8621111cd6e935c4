"""Alarms (spend, router errors, failed cascades), their SNS topic, and a small dashboard.

The cost metric is published by the record function as EMF (namespace ``Switchboard``, dimension
``service=switchboard``), so the spend alarm watches what was actually recorded per request.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import SwitchboardConfig

METRIC_NAMESPACE = "Switchboard"
METRIC_DIMENSIONS = {"service": "switchboard"}
# The per-stage times the record function publishes (``service.traces.stage_metrics``), in milliseconds:
# each stage's own time, and the queueing gap before the stages that wait on Lambda and Step Functions.
STAGE_METRICS = ("AdmitMs", "RouteMs", "EmbedMs", "StartMs", "TierMs", "ModelCallMs", "JudgeMs", "DecideMs",
                 "ComposeMs", "RecordMs")
QUEUE_METRICS = ("TierQueueMs", "JudgeQueueMs", "DecideQueueMs", "ComposeQueueMs", "RecordQueueMs")


def switchboard_metric(name: str, statistic: str = "Sum",
                       period: Duration | None = None) -> cloudwatch.Metric:
    return cloudwatch.Metric(namespace=METRIC_NAMESPACE, metric_name=name, dimensions_map=METRIC_DIMENSIONS,
                             statistic=statistic, period=period or Duration.minutes(5))


class Observability(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: SwitchboardConfig,
                 router: lambda_.IFunction, state_machine: sfn.StateMachine) -> None:
        super().__init__(scope, construct_id)
        self.topic = self._topic(config)
        action = actions.SnsAction(self.topic)

        cost = switchboard_metric("CostUSD", period=Duration.hours(1))
        self.spend_alarm = cost.create_alarm(
            self, "HourlySpend", alarm_description=(
                f"Switchboard spent more than ${config.hourly_spend_alarm_usd:g} on model calls in one hour"),
            threshold=config.hourly_spend_alarm_usd, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        self.router_errors_alarm = router.metric_errors(period=Duration.minutes(5)).create_alarm(
            self, "RouterErrors", alarm_description="The Switchboard router function raised errors",
            threshold=1, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        self.cascade_failed_alarm = state_machine.metric_failed(period=Duration.minutes(5)).create_alarm(
            self, "CascadeFailed", alarm_description="Switchboard cascade executions failed",
            threshold=1, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        for alarm in (self.spend_alarm, self.router_errors_alarm, self.cascade_failed_alarm):
            alarm.add_alarm_action(action)

        self.dashboard = self._dashboard(router, state_machine)

    def _topic(self, config: SwitchboardConfig) -> sns.Topic:
        # A customer-managed key because CloudWatch alarms cannot publish to a topic encrypted with the
        # AWS-managed aws/sns key (its key policy cannot grant cloudwatch.amazonaws.com).
        key = kms.Key(self, "AlarmTopicKey", description="Switchboard alarm topic encryption",
                      enable_key_rotation=True)
        key.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"], resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}}))
        topic = sns.Topic(self, "AlarmTopic", display_name="Switchboard alarms", master_key=key,
                          enforce_ssl=True)
        if config.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        return topic

    def _dashboard(self, router: lambda_.IFunction, state_machine: sfn.StateMachine) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.days(1))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Cost (USD per hour)", width=12,
                                   left=[switchboard_metric("CostUSD", period=Duration.hours(1))]),
            cloudwatch.GraphWidget(title="Requests and escalations", width=12,
                                   left=[switchboard_metric("Requests"), switchboard_metric("Escalations")]),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Router latency (ms)", width=12,
                                   left=[router.metric_duration(statistic="p50"),
                                         router.metric_duration(statistic="p90"),
                                         router.metric_duration(statistic="p99")]),
            cloudwatch.GraphWidget(title="Cascade executions", width=12,
                                   left=[state_machine.metric_succeeded(), state_machine.metric_failed(),
                                         state_machine.metric_timed_out()],
                                   right=[state_machine.metric_time(statistic="p90")]),
        )
        for title, names in (("Time per stage (ms)", STAGE_METRICS), ("Queueing gap before each stage (ms)",
                                                                      QUEUE_METRICS)):
            dashboard.add_widgets(*(
                cloudwatch.GraphWidget(title=f"{title}, {statistic}", width=12,
                                       left=[switchboard_metric(name, statistic=statistic) for name in names])
                for statistic in ("p50", "p95")))
        return dashboard
