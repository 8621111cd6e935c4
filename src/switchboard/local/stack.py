"""The local stack: the synthesised CloudFormation template, run on one machine.

``LocalStack.start()``:
1. synthesises the CDK app (``python app.py``, cached by a hash of the infra sources) — or takes a given
   template — and reads the cascade's state-machine definition *from that template*;
2. starts the AWS emulator (moto on 127.0.0.1) and creates the template's DynamoDB tables (same key
   schema) and the state machine (same definition), with each Lambda task dispatched in-process to the
   handler the template names, under the environment the template gives it;
3. seeds the model catalogue and the taxonomy.
The HTTP server (``switchboard.http.server``) then turns HTTP requests into API Gateway events for the
router handler, exactly as API Gateway's proxy integration would.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from switchboard import envvars as names
from switchboard.local.emulator import ACCOUNT, REGION, LambdaDispatcher, LocalAws

if TYPE_CHECKING:
    from switchboard.service.assembly import Services

log = logging.getLogger(__name__)
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
LOCAL_DEADLINE_S = 240.0
# Tables whose items must survive a restart of the local stack (the others are seeded at every start).
DURABLE_TABLES = ("TracesTable", "KeysTable")
LOCAL_JOB_DEADLINE_S = 900.0  # a job's deadline locally (models on a CPU; no 5-minute Express limit)


def default_state_dir() -> Path:
    return Path(os.environ.get(names.ENV_STATE_DIR) or Path.home() / ".cache" / "switchboard" / "state")


class LocalStackError(RuntimeError):
    pass


def project_root() -> Path:
    """The checkout that holds app.py (the local stack needs the CDK app and the functions/ folder)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "app.py").exists() and (parent / "functions").is_dir():
            return parent
    raise LocalStackError("cannot find the Switchboard checkout (app.py, functions/); run from a clone "
                          "installed with `pip install -e .`")


def _sources_digest(root: Path) -> str:
    digest = hashlib.sha256()
    # what the template is synthesised from: the CDK app, and the runtime modules infra reads (the env-var
    # names, the route table)
    files = [root / "app.py", root / "cdk.json", root / "src" / "switchboard" / "envvars.py",
             root / "src" / "switchboard" / "http" / "routes.py"]
    files += sorted((root / "infra").rglob("*.py"))
    for path in files:
        if path.exists():
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def synth_template(root: Path | None = None, cache_dir: Path | None = None) -> dict:
    """Synthesise the CDK app offline and return the stack's template; cached by source digest."""
    root = root or project_root()
    cache_dir = cache_dir or Path(os.environ.get(names.ENV_SYNTH_CACHE, Path.home() / ".cache" / "switchboard" / "synth"))
    out = cache_dir / _sources_digest(root)
    templates = sorted(out.glob("*.template.json")) if out.exists() else []
    if not templates:
        out.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "CDK_OUTDIR": str(out), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
        proc = subprocess.run([sys.executable, "app.py"], cwd=root, env=env, capture_output=True, text=True,
                              timeout=300)
        if proc.returncode != 0:
            raise LocalStackError(f"cdk synth failed:\n{proc.stderr[-3000:]}")
        templates = sorted(out.glob("*.template.json"))
    if not templates:
        raise LocalStackError(f"synth produced no template in {out}")
    return json.loads(templates[0].read_text(encoding="utf-8"))


def _resources(template: dict | None, kind: str) -> dict[str, dict]:
    return {lid: r for lid, r in (template or {}).get("Resources", {}).items() if r.get("Type") == kind}


class LocalStack:
    def __init__(self, *, template: dict | None = None, root: Path | None = None,
                 catalog_path: Path | None = None, taxonomy_path: Path | None = None,
                 dynamodb_endpoint: str | None = None, port: int | None = None,
                 router_artifacts: Path | None = None, providers: Any | None = None,
                 deadline_s: float = LOCAL_DEADLINE_S, state_dir: Path | None = None,
                 require_keys: bool = False) -> None:
        self.root = root
        self.template = template
        self.catalog_path = catalog_path or DATA_DIR / "catalog.local.json"
        # A training run's directory brings its taxonomy and its learned router (as in AWS, where the
        # taxonomy is published to DynamoDB and the router ships as a layer of the router Lambda).
        self.router_artifacts = Path(router_artifacts) if router_artifacts else None
        if taxonomy_path is None and self.router_artifacts is not None:
            taxonomy_path = self.router_artifacts / "taxonomy.json"
        self.taxonomy_path = taxonomy_path or DATA_DIR / "taxonomy.seed.json"
        # A ProviderSource to serve every model instead of the catalogue's providers (``eval --via-stack``
        # replays recorded outcomes through the stack this way); None: the catalogue's own providers.
        self.providers = providers
        self.router_module: Any = None
        self.deadline_s = deadline_s
        # As deployed (apiAuth "keys"), every request needs a bearer key of the keys table; locally a key is
        # optional unless asked for (a key of ours that is sent is still held to its budget).
        self.require_keys = require_keys
        # Where the durable tables (traces) are journaled so they survive a restart; None: in memory only.
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.journal: Any = None
        self.restored: dict[str, int] = {}
        self.warnings: list[str] = []
        self._router_models: list[str] = []
        self.dynamodb_endpoint = dynamodb_endpoint
        self.dispatcher = LambdaDispatcher()
        self.aws = LocalAws(self.dispatcher, port=port)
        self.definition: dict = {}
        self.state_machine_arn = ""
        self.table_names: dict[str, str] = {}
        self.router_function = ""
        self.environment: dict[str, str] = {}
        self._saved_env: dict[str, str | None] = {}

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        if self.router_artifacts is not None:
            from switchboard.adapters.learned import LearnedRouterUnavailable, check_router_artifacts

            try:
                self._router_models = list(check_router_artifacts(self.router_artifacts)["models"])
            except LearnedRouterUnavailable as exc:
                raise LocalStackError(str(exc)) from exc
        if self.template is None:
            self.template = synth_template(self.root)
        from switchboard.local.definition import definition_from_template

        self.definition, _ = definition_from_template(self.template)
        self._saved_env.setdefault("MOTO_PORT", os.environ.get("MOTO_PORT"))
        self.aws.start()
        try:
            self.environment = self.aws.environment()
            if self.dynamodb_endpoint:
                self.environment["AWS_ENDPOINT_URL_DYNAMODB"] = self.dynamodb_endpoint
            self._apply_env()
            from switchboard import composition

            composition.reset()  # parts cached under another stack's environment are not this stack's
            self._create_tables()
            self._restore_durable_tables()
            self._create_state_machine()
            self._register_functions()
            self.seed()
        except BaseException:
            self.stop()  # no emulator or environment left behind by a stack that did not start
            raise
        return self

    def stop(self) -> None:
        if self.journal is not None:
            from switchboard.local.journal import activate

            activate(None)
            self.journal.close()
            self.journal = None
        self.aws.stop()
        from switchboard import composition

        composition.reset()
        for key, value in self._saved_env.items():  # leave the process as we found it
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}

    def _apply_env(self) -> None:
        for key in self.environment:
            self._saved_env.setdefault(key, os.environ.get(key))
        os.environ.update(self.environment)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- resources from the template -------------------------------------------------------------
    def _dynamodb(self) -> Any:
        import boto3

        return boto3.client("dynamodb", endpoint_url=self.environment["AWS_ENDPOINT_URL_DYNAMODB"],
                            region_name=REGION, aws_access_key_id="local", aws_secret_access_key="local")

    def _create_tables(self) -> None:
        client = self._dynamodb()
        existing = set(client.list_tables().get("TableNames", []))
        for logical_id, resource in _resources(self.template, "AWS::DynamoDB::Table").items():
            props = resource["Properties"]
            name = props.get("TableName") if isinstance(props.get("TableName"), str) else logical_id
            self.table_names[logical_id] = name
            if name in existing:
                continue
            client.create_table(TableName=name, KeySchema=props["KeySchema"],
                                AttributeDefinitions=props["AttributeDefinitions"], BillingMode="PAY_PER_REQUEST")
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                client.update_time_to_live(TableName=name, TimeToLiveSpecification={
                    "Enabled": True, "AttributeName": ttl["AttributeName"]})

    def _restore_durable_tables(self) -> None:
        """Journal the durable tables (``local.journal``) and put back what an earlier run recorded."""
        if self.state_dir is None or self.dynamodb_endpoint:
            return  # DynamoDB Local keeps its own data (-dbPath)
        from switchboard.local.journal import Journal, activate

        tables = _resources(self.template, "AWS::DynamoDB::Table")
        durable = {self.table_names[lid]: [k["AttributeName"] for k in tables[lid]["Properties"]["KeySchema"]]
                   for lid in DURABLE_TABLES if lid in tables}
        self.journal = Journal(self.state_dir, durable)
        activate(self.journal)
        self.restored = self.journal.restore(self._dynamodb())

    def _create_state_machine(self) -> None:
        machines = _resources(self.template, "AWS::StepFunctions::StateMachine")
        if len(machines) != 1:
            raise LocalStackError(f"expected one state machine in the template, found {len(machines)}")
        logical_id, resource = next(iter(machines.items()))
        machine_type = resource["Properties"].get("StateMachineType", "STANDARD")
        sfn = self.aws.client("stepfunctions")
        self.state_machine_arn = sfn.create_state_machine(
            name=logical_id, definition=json.dumps(self.definition), type=machine_type,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/local-cascade")["stateMachineArn"]

    def _resolve(self, value: Any) -> str:
        """Resolve the intrinsic functions a Lambda environment uses (Ref to tables and the machine)."""
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            if ref in self.table_names:
                return self.table_names[ref]
            if ref in _resources(self.template, "AWS::StepFunctions::StateMachine"):
                return self.state_machine_arn
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"][0]
            if target in _resources(self.template, "AWS::StepFunctions::StateMachine"):
                return self.state_machine_arn
        raise LocalStackError(f"cannot resolve {value!r} in a Lambda environment")

    def _register_functions(self) -> None:
        # The handlers live in the checkout's functions/ package, not in the installed switchboard package;
        # a console script does not have the checkout on sys.path, so put it there (once) before importing.
        root = str(self.root or project_root())
        if root not in sys.path:
            sys.path.insert(0, root)
        for logical_id, resource in _resources(self.template, "AWS::Lambda::Function").items():
            props = resource["Properties"]
            handler_path = props.get("Handler", "")
            if not handler_path.endswith(".lambda_handler"):
                continue  # CDK's own helper functions (log retention, custom resources)
            variables = props.get("Environment", {}).get("Variables", {})
            for key, value in variables.items():
                self.environment[key] = self._resolve(value)
            module_name, func_name = handler_path.rsplit(".", 1)
            module = importlib.import_module(f"functions.{module_name}")
            self.dispatcher.register(logical_id, getattr(module, func_name))
            if module_name.startswith("router."):
                self.router_function = logical_id
                self.router_module = module
        if not self.router_function:
            raise LocalStackError("the template has no router function (handler router.handler.lambda_handler)")
        # The emulator implements StartExecution, not StartSyncExecution: the router polls instead.
        self.environment[names.ENV_ORCHESTRATION] = "poll"
        # The router runs in this process, beside the models: a single-tier plan streams its tokens.
        self.environment[names.ENV_STREAM_TOKENS] = "true"
        # No API Gateway in front and models on a CPU: a longer deadline than in AWS (still one deadline).
        self.environment[names.ENV_REQUEST_DEADLINE_S] = str(self.deadline_s)
        self.environment[names.ENV_JOB_DEADLINE_S] = str(max(self.deadline_s, LOCAL_JOB_DEADLINE_S))
        self.environment[names.ENV_REQUIRE_KEYS] = "true" if self.require_keys else "false"
        if self.router_artifacts is not None:  # in AWS: the learned-router layer, mounted at /opt
            self.environment[names.ENV_ROUTER_ARTIFACTS] = str(self.router_artifacts.resolve())
        self._apply_env()
        from switchboard import composition

        # the warm-container caches are rebuilt against this stack's environment
        composition.use(composition.Container(composition.Parts(providers=self.providers)))

    # ---- data ------------------------------------------------------------------------------------
    def _table_for(self, env_name: str) -> str:
        return self.environment[env_name]

    def seed(self) -> None:
        from switchboard.adapters.stores.dynamo import DynamoCatalog, DynamoTaxonomy
        from switchboard.domain.catalog import ModelEntry
        from switchboard.local.seed import load_taxonomy

        client = self._dynamodb()
        entries = [ModelEntry.model_validate(e) for e in json.loads(self.catalog_path.read_text("utf-8"))]
        DynamoCatalog(self._table_for(names.ENV_CATALOG_TABLE), client=client).put_all(entries)
        categories = load_taxonomy(self.taxonomy_path)
        from switchboard.adapters.encoder import DIM
        from switchboard.service.publish import PublishError, coverage_warnings, require_dimension

        try:
            require_dimension(categories, DIM, self.taxonomy_path)
        except PublishError as exc:
            raise LocalStackError(str(exc)) from exc
        DynamoTaxonomy(self._table_for(names.ENV_TAXONOMY_TABLE), client=client).put_all(categories)
        self.warnings = coverage_warnings(categories, self._router_models, {e.model_id for e in entries})
        if self.router_artifacts is not None and (self.router_artifacts / "dial.json").is_file():
            # In AWS, `switchboard publish DIR` writes the run's dial to the Policy table.
            from switchboard.adapters.stores.dynamo import DynamoPolicy
            from switchboard.service.publish import read_dial

            try:
                dial = read_dial(self.router_artifacts)
            except PublishError as exc:
                raise LocalStackError(str(exc)) from exc
            DynamoPolicy(self._table_for(names.ENV_POLICY_TABLE), client=client).put(dial, "local")

    # ---- calls -----------------------------------------------------------------------------------
    def services(self) -> Services:
        """The services the router handler runs on in this process (its routes that stream use them)."""
        from switchboard.composition import container

        return container().services()

    def invoke_router(self, event: dict) -> dict:
        ok, result = self.dispatcher.invoke(self.router_function, event)
        if not ok:  # the router handler maps every error itself; this is a bug: logged, not shown
            log.error("router handler raised %s: %s", result.get("errorType"), str(result.get("errorMessage"))[:500])
            return {"statusCode": 500, "headers": {"Content-Type": "application/json"},
                    "body": json.dumps({"error": {"message": "internal error in the local router",
                                                  "type": "internal_error", "param": None,
                                                  "code": "internal_error"}})}
        return result
