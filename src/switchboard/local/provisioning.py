"""The template's resources, made in the emulator: its DynamoDB tables (same key schemas, TTL), its S3
buckets, its state machine (the synthesised definition), the values its Lambda environments refer to, the journal that keeps
the durable tables across restarts, and the seed data (catalogue, taxonomy, a training run's dial)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from switchboard import envvars as names
from switchboard.local.emulator import ACCOUNT

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
# Tables whose items must survive a restart of the local stack (the others are seeded at every start).
DURABLE_TABLES = ("TracesTable", "KeysTable", "ResponsesTable", "SessionsTable")


class LocalStackError(RuntimeError):
    pass


def resources_of(template: dict | None, kind: str) -> dict[str, dict]:
    return {lid: r for lid, r in (template or {}).get("Resources", {}).items() if r.get("Type") == kind}


class Resources:
    """What the emulator holds of the template: each table's name by logical id, the state machine."""

    def __init__(self) -> None:
        self.table_names: dict[str, str] = {}
        self.bucket_names: dict[str, str] = {}
        self.state_machine_arn = ""
        self.definition: dict = {}

    def create_buckets(self, client: Any, template: dict) -> None:
        """The template's S3 buckets (the artifact bucket), named after their logical ids."""
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        for logical_id in resources_of(template, "AWS::S3::Bucket"):
            name = logical_id.lower()
            self.bucket_names[logical_id] = name
            if name not in existing:
                client.create_bucket(Bucket=name)

    def create_tables(self, client: Any, template: dict) -> None:
        existing = set(client.list_tables().get("TableNames", []))
        for logical_id, resource in resources_of(template, "AWS::DynamoDB::Table").items():
            props = resource["Properties"]
            name = props.get("TableName") if isinstance(props.get("TableName"), str) else logical_id
            self.table_names[logical_id] = name
            if name in existing:
                continue
            indexes = {"GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"]} if "GlobalSecondaryIndexes" in props else {}
            client.create_table(TableName=name, KeySchema=props["KeySchema"],
                                AttributeDefinitions=props["AttributeDefinitions"], BillingMode="PAY_PER_REQUEST",
                                **indexes)
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                client.update_time_to_live(TableName=name, TimeToLiveSpecification={
                    "Enabled": True, "AttributeName": ttl["AttributeName"]})

    def create_state_machine(self, sfn: Any, template: dict) -> None:
        """The template's one state machine, with the definition the template synthesised."""
        from switchboard.local.definition import definition_from_template

        self.definition, _ = definition_from_template(template)
        machines = resources_of(template, "AWS::StepFunctions::StateMachine")
        if len(machines) != 1:
            raise LocalStackError(f"expected one state machine in the template, found {len(machines)}")
        logical_id, resource = next(iter(machines.items()))
        machine_type = resource["Properties"].get("StateMachineType", "STANDARD")
        self.state_machine_arn = sfn.create_state_machine(
            name=logical_id, definition=json.dumps(self.definition), type=machine_type,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/local-cascade")["stateMachineArn"]

    def resolve(self, value: Any, template: dict) -> str:
        """Resolve the intrinsic functions a Lambda environment uses (Ref to tables and the machine)."""
        machines = resources_of(template, "AWS::StepFunctions::StateMachine")
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            if ref in self.table_names:
                return self.table_names[ref]
            if ref in self.bucket_names:
                return self.bucket_names[ref]
            if ref in machines:
                return self.state_machine_arn
        if isinstance(value, dict) and "Fn::GetAtt" in value and value["Fn::GetAtt"][0] in machines:
            return self.state_machine_arn
        raise LocalStackError(f"cannot resolve {value!r} in a Lambda environment")


def journal_durable_tables(state_dir: Path, template: dict, resources: Resources, client: Any
                           ) -> tuple[Any, dict[str, int]]:
    """Journal the durable tables (``local.journal``) and put back what an earlier run recorded: the
    journal, and how many items of each table came back."""
    from switchboard.local.journal import Journal, activate

    tables = resources_of(template, "AWS::DynamoDB::Table")
    durable = {resources.table_names[lid]: [k["AttributeName"] for k in tables[lid]["Properties"]["KeySchema"]]
               for lid in DURABLE_TABLES if lid in tables}
    journal = Journal(state_dir, durable)
    activate(journal)
    return journal, journal.restore(client)


def seed(client: Any, environment: dict[str, str], options: Any, router_models: list[str]) -> list[str]:
    """Write the catalogue and the taxonomy (and a training run's dial: in AWS, ``switchboard publish``
    writes it to the Policy table) into the stack's tables; returns the coverage warnings."""
    from switchboard.adapters.encoder import DIM
    from switchboard.adapters.stores.dynamo import DynamoCatalog, DynamoPolicy, DynamoTaxonomy
    from switchboard.domain.catalog import ModelEntry
    from switchboard.local.seed import load_taxonomy
    from switchboard.service.publish import PublishError, coverage_warnings, read_dial, require_dimension

    entries = [ModelEntry.model_validate(e) for e in json.loads(Path(options.catalog_path).read_text("utf-8"))]
    DynamoCatalog(environment[names.ENV_CATALOG_TABLE], client=client).put_all(entries)
    categories = load_taxonomy(options.taxonomy_path)
    try:
        require_dimension(categories, DIM, options.taxonomy_path)
    except PublishError as exc:
        raise LocalStackError(str(exc)) from exc
    DynamoTaxonomy(environment[names.ENV_TAXONOMY_TABLE], client=client).put_all(categories)
    warnings = coverage_warnings(categories, router_models, {e.model_id for e in entries})
    artifacts = options.router_artifacts
    if artifacts is not None and (artifacts / "dial.json").is_file():
        try:
            dial = read_dial(artifacts)
        except PublishError as exc:
            raise LocalStackError(str(exc)) from exc
        DynamoPolicy(environment[names.ENV_POLICY_TABLE], client=client).put(dial, "local")
    return warnings
