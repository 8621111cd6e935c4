"""Fixed logical ids of the resources other tools address by id, written once.

The local stack dispatches Lambda tasks by function logical id and names tables after theirs; and a
stateful resource whose logical id changes (a construct moved in the tree) is *replaced*, i.e. a table
would come back empty. So these ids are pinned instead of derived from construct paths.
"""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import Construct

ROUTER_FN = "RouterFn"
TIER_FN = "TierFn"
JUDGE_FN = "JudgeFn"
DECIDE_FN = "DecideFn"
COMPOSE_FN = "ComposeFn"
RECORD_FN = "RecordFn"
TRACES_TABLE = "TracesTable"
CATALOG_TABLE = "CatalogTable"
TAXONOMY_TABLE = "TaxonomyTable"
POLICY_TABLE = "PolicyTable"
KEYS_TABLE = "KeysTable"
RESPONSES_TABLE = "ResponsesTable"
SESSIONS_TABLE = "SessionsTable"
ARTIFACT_BUCKET = "ArtifactBucket"
STATE_MACHINE = "CascadeStateMachine"


def pin_logical_id(construct: Construct, logical_id: str) -> None:
    """Give an L2 construct's CloudFormation resource a fixed logical id."""
    resource = construct.node.default_child
    assert isinstance(resource, CfnResource), f"{construct.node.path} has no CloudFormation resource"
    resource.override_logical_id(logical_id)
