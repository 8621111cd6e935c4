"""DynamoDB tables: traces (with TTL), the model catalogue, the taxonomy and the policy (the trained dial).

On-demand billing (traffic is bursty and small), point-in-time recovery, AWS-managed encryption (no key to
administer; the data is prompts and prices, protected by IAM). Key names are the runtime's item keys.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra import ids

TRACE_TTL_ATTRIBUTE = "expires_at"


def _table(scope: Construct, construct_id: str, logical_id: str, partition_key: str, removal: RemovalPolicy,
           ttl_attribute: str | None = None) -> dynamodb.Table:
    table = dynamodb.Table(
        scope, construct_id,
        partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True),
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        time_to_live_attribute=ttl_attribute,
        removal_policy=removal,
    )
    ids.pin_logical_id(table, logical_id)  # moving the construct must never replace (empty) a table
    return table


class Storage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, traces_removal: RemovalPolicy,
                 reference_removal: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.traces = _table(self, "Traces", ids.TRACES_TABLE, "trace_id", traces_removal,
                             ttl_attribute=TRACE_TTL_ATTRIBUTE)
        self.catalog = _table(self, "Catalog", ids.CATALOG_TABLE, "model_id", reference_removal)
        self.taxonomy = _table(self, "Taxonomy", ids.TAXONOMY_TABLE, "category", reference_removal)
        self.policy = _table(self, "Policy", ids.POLICY_TABLE, "name", reference_removal)
