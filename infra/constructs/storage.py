"""DynamoDB tables: traces (with TTL), the model catalogue, the taxonomy, the policy (the trained dial,
the judge policy and the release pointer), the callers' API keys, the Responses API's stored responses and
sessions' models (both with TTL); and the artifact bucket, where
``switchboard publish`` uploads a training run's models.

On-demand billing (traffic is bursty and small), point-in-time recovery, AWS-managed encryption (no key to
administer; the data is prompts and prices, protected by IAM). Key names are the runtime's item keys.

The artifact bucket is encrypted (S3-managed keys), blocks every kind of public access, refuses requests
without TLS, keeps object versions and expires superseded versions after 30 days (a blob's key is its
sha256, so a current object never changes; only an overwrite with identical bytes makes a noncurrent
version). Only the router and decide functions are granted read; the publisher writes with the
operator's own credentials. It is retained when the stack is deleted, like the reference tables'
default, since a rollback needs its releases.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra import ids, lint, nag
from switchboard.domain.catalog import ModelEntry

TRACE_TTL_ATTRIBUTE = "expires_at"
TRACES_BY_OWNER = "by-owner"  # the index the router lists a caller's newest traces from


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
        # A caller's newest traces (GET /v1/traces): each trace's owner (its API key id, "-" without one)
        # and creation time; keys only, the bodies are read from the table (adapters/stores/trace_listing).
        self.traces.add_global_secondary_index(
            index_name=TRACES_BY_OWNER,
            partition_key=dynamodb.Attribute(name="owner", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="created_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.KEYS_ONLY)
        self.catalog = _table(self, "Catalog", ids.CATALOG_TABLE, "model_id", reference_removal)
        self.taxonomy = _table(self, "Taxonomy", ids.TAXONOMY_TABLE, "category", reference_removal)
        self.policy = _table(self, "Policy", ids.POLICY_TABLE, "name", reference_removal)
        # Callers' API keys: sha256 of the secret -> budget and spend. Retained like the traces: losing it
        # would lose what every key has spent.
        self.keys = _table(self, "Keys", ids.KEYS_TABLE, "key_hash", traces_removal)
        # The Responses API's stored responses (store: true), each scoped to its caller's key; they expire
        # with the traces' TTL.
        self.responses = _table(self, "Responses", ids.RESPONSES_TABLE, "response_id", traces_removal,
                                ttl_attribute=TRACE_TTL_ATTRIBUTE)
        # Which model a session's requests start with (service.affinity); items expire after an hour.
        self.sessions = _table(self, "Sessions", ids.SESSIONS_TABLE, "session", traces_removal,
                               ttl_attribute=TRACE_TTL_ATTRIBUTE)
        self.artifacts = s3.Bucket(
            self, "Artifacts",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=True,
            lifecycle_rules=[s3.LifecycleRule(id="expire-superseded-versions",
                                              noncurrent_version_expiration=Duration.days(30),
                                              abort_incomplete_multipart_upload_after=Duration.days(1))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        ids.pin_logical_id(self.artifacts, ids.ARTIFACT_BUCKET)
        nag.acknowledge(self.artifacts, "AwsSolutions-S1", (
            "Server access logs would need a second bucket for a handful of reads per minute by two roles; "
            "object-level access is auditable with CloudTrail data events where an account wants it."))

    def seed_catalog(self, entries: Sequence[ModelEntry]) -> None:
        """Write the default catalogue into the catalogue table when the stack is created, so a fresh
        deployment answers from its first request. Each entry is a conditional PutItem: an entry the table
        already holds (published by the user) is kept, and stack updates never rewrite the table."""
        for entry in entries:
            put = cr.AwsSdkCall(
                service="DynamoDB", action="putItem",
                parameters={"TableName": self.catalog.table_name,
                            "Item": {"model_id": {"S": entry.model_id}, "body": {"S": entry.model_dump_json()}},
                            "ConditionExpression": "attribute_not_exists(model_id)"},
                physical_resource_id=cr.PhysicalResourceId.of(f"catalog-seed-{entry.model_id}"),
                ignore_error_codes_matching="ConditionalCheckFailedException")
            cr.AwsCustomResource(
                self, f"SeedCatalog{''.join(c for c in entry.model_id.title() if c.isalnum())}",
                on_create=put, install_latest_aws_sdk=False,
                policy=cr.AwsCustomResourcePolicy.from_sdk_calls(resources=[self.catalog.table_arn]))
        # The SDK-call provider is one function per stack, created by CDK with the basic execution role.
        provider = Stack.of(self).node.try_find_child("AWS" + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace("-", ""))
        if provider is not None:
            nag.acknowledge(provider, "AwsSolutions-IAM4", nag.LAMBDA_BASIC_EXECUTION,
                            findings=[nag.LAMBDA_BASIC_EXECUTION_POLICY])
            lint.acknowledge(provider.node.find_child("Resource"), lint.REDUNDANT_ROLE_DEPENDENCY)
