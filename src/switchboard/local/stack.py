"""The local stack: the synthesised CloudFormation template, run on one machine.

``LocalStack.start()``:
1. synthesises the CDK app (``python app.py`` with placeholder layers, cached by a hash of the infra sources) — or takes a given
   template — and reads the cascade's state-machine definition *from that template*;
2. starts the AWS emulator (moto on 127.0.0.1) and creates the template's DynamoDB tables (same key
   schema), its S3 buckets and the state machine (same definition), with each Lambda task dispatched in-process to the
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from switchboard import envvars as names
from switchboard.local.emulator import REGION, LambdaDispatcher, LocalAws
from switchboard.local.provisioning import (  # noqa: F401 - re-exported
    DATA_DIR,
    LocalStackError,
    Resources,
    journal_durable_tables,
    resources_of,
    seed,
)

if TYPE_CHECKING:
    from switchboard.service.assembly import Services

log = logging.getLogger(__name__)
LOCAL_DEADLINE_S = 240.0
LOCAL_JOB_DEADLINE_S = 900.0  # a job's deadline locally (models on a CPU; no 5-minute Express limit)


def default_state_dir() -> Path:
    return Path(os.environ.get(names.ENV_STATE_DIR) or Path.home() / ".cache" / "switchboard" / "state")


def project_root() -> Path:
    """The checkout that holds app.py (the local stack needs the CDK app and the functions/ folder)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "app.py").exists() and (parent / "functions").is_dir():
            return parent
    raise LocalStackError("cannot find the Switchboard checkout (app.py, functions/); run from a clone "
                          "installed with `pip install -e .`")


# The local stack runs the handlers in-process from this checkout and never uses the Lambda layers, so it
# asks for placeholder layers rather than building ~150 MB of wheels for another platform on a fresh
# machine; everything else in the template (tables, state machine, environments) is the deployable one's.
SYNTH_CONTEXT = {"switchboard:layers": "placeholder"}


def _sources_digest(root: Path) -> str:
    digest = hashlib.sha256(json.dumps(SYNTH_CONTEXT, sort_keys=True).encode())
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
    """Synthesise the CDK app offline (with placeholder layers: ``SYNTH_CONTEXT``) and return the stack's
    template; cached by source digest."""
    root = root or project_root()
    cache_dir = cache_dir or Path(os.environ.get(names.ENV_SYNTH_CACHE, Path.home() / ".cache" / "switchboard" / "synth"))
    out = cache_dir / _sources_digest(root)
    templates = sorted(out.glob("*.template.json")) if out.exists() else []
    if not templates:
        out.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "CDK_OUTDIR": str(out), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
               "CDK_CONTEXT_JSON": json.dumps(SYNTH_CONTEXT)}
        proc = subprocess.run([sys.executable, "app.py"], cwd=root, env=env, capture_output=True, text=True,
                              timeout=300)
        if proc.returncode != 0:
            raise LocalStackError(f"cdk synth failed:\n{proc.stderr[-3000:]}")
        templates = sorted(out.glob("*.template.json"))
    if not templates:
        raise LocalStackError(f"synth produced no template in {out}")
    return json.loads(templates[0].read_text(encoding="utf-8"))


@dataclass
class StackOptions:
    """How a local stack is set up: its catalogue and taxonomy (a training run's directory brings its
    taxonomy and learned router, as a publish and the router layer do in AWS), where DynamoDB is, the
    emulator's port, a ``ProviderSource`` that serves every model instead of the catalogue's providers
    (``eval --via-stack`` replays recorded outcomes this way), the request deadline, where the durable
    tables are journaled (None: in memory only), and whether every request needs a bearer key (as
    deployed; locally a key is optional, but a key of ours that is sent is held to its budget)."""

    catalog_path: Path | None = None
    taxonomy_path: Path | None = None
    dynamodb_endpoint: str | None = None
    port: int | None = None
    router_artifacts: Path | None = None
    providers: Any | None = None
    deadline_s: float = LOCAL_DEADLINE_S
    state_dir: Path | None = None
    require_keys: bool = False
    decomposition: bool = False  # split compound requests (off by default, as deployed: see infra.config)
    # what executes the state machine: "lean" (local.asl_executor; moto's interpreter where the definition
    # needs more than it implements) or "moto" (always moto's interpreter)
    executor: str = ""

    def __post_init__(self) -> None:
        self.router_artifacts = Path(self.router_artifacts) if self.router_artifacts else None
        self.catalog_path = self.catalog_path or DATA_DIR / "catalog.local.json"
        if self.taxonomy_path is None and self.router_artifacts is not None:
            self.taxonomy_path = self.router_artifacts / "taxonomy.json"
        self.taxonomy_path = self.taxonomy_path or DATA_DIR / "taxonomy.seed.json"
        self.state_dir = Path(self.state_dir) if self.state_dir is not None else None
        self.executor = self.executor or os.environ.get(names.ENV_LOCAL_EXECUTOR) or "lean"
        if self.executor not in ("lean", "moto"):
            raise LocalStackError(f"unknown executor {self.executor!r} ({names.ENV_LOCAL_EXECUTOR}): lean or moto")


class LocalStack:
    """The template's resources in the emulator, its handlers registered in-process, and the router
    handler that serves the HTTP server's requests."""

    def __init__(self, options: StackOptions | None = None, *, template: dict | None = None,
                 root: Path | None = None) -> None:
        self.options = options or StackOptions()
        self.root = root
        self.template = template
        self.journal: Any = None
        self.restored: dict[str, int] = {}
        self.warnings: list[str] = []
        self.dispatcher = LambdaDispatcher()
        self.aws = LocalAws(self.dispatcher, port=self.options.port)
        self.resources = Resources()
        self.router_function = ""
        self.executor = ""  # which executor runs the state machine, once started
        self.environment: dict[str, str] = {}
        self._saved_env: dict[str, str | None] = {}

    @property
    def state_machine_arn(self) -> str:
        return self.resources.state_machine_arn

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        options = self.options
        router_models: list[str] = []
        if options.router_artifacts is not None:
            from switchboard.adapters.learned import LearnedRouterUnavailable, check_router_artifacts

            try:
                router_models = list(check_router_artifacts(options.router_artifacts)["models"])
            except LearnedRouterUnavailable as exc:
                raise LocalStackError(str(exc)) from exc
        if self.template is None:
            self.template = synth_template(self.root)
        self._saved_env.setdefault("MOTO_PORT", os.environ.get("MOTO_PORT"))
        self.aws.start()
        try:
            self.environment = self.aws.environment()
            if options.dynamodb_endpoint:
                self.environment["AWS_ENDPOINT_URL_DYNAMODB"] = options.dynamodb_endpoint
            self._apply_env()
            from switchboard import composition

            composition.reset()  # parts cached under another stack's environment are not this stack's
            client = self._dynamodb()
            self.resources.create_tables(client, self.template)
            self.resources.create_buckets(self.aws.client("s3"), self.template)
            if options.state_dir is not None and not options.dynamodb_endpoint:  # DynamoDB Local keeps its own
                self.journal, self.restored = journal_durable_tables(options.state_dir, self.template,
                                                                     self.resources, client)
            self.resources.create_state_machine(self.aws.client("stepfunctions"), self.template)
            self._register_functions()
            self.warnings += seed(client, self.environment, options, router_models)
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

    def _dynamodb(self) -> Any:
        import boto3

        return boto3.client("dynamodb", endpoint_url=self.environment["AWS_ENDPOINT_URL_DYNAMODB"],
                            region_name=REGION, aws_access_key_id="local", aws_secret_access_key="local")

    def _register_functions(self) -> None:
        # The handlers live in the checkout's functions/ package, not in the installed switchboard package;
        # a console script does not have the checkout on sys.path, so put it there (once) before importing.
        root = str(self.root or project_root())
        if root not in sys.path:
            sys.path.insert(0, root)
        for logical_id, resource in resources_of(self.template, "AWS::Lambda::Function").items():
            props = resource["Properties"]
            handler_path = props.get("Handler", "")
            if not handler_path.endswith(".lambda_handler"):
                continue  # CDK's own helper functions (log retention, custom resources)
            variables = props.get("Environment", {}).get("Variables", {})
            for key, value in variables.items():
                self.environment[key] = self.resources.resolve(value, self.template or {})
            module_name, func_name = handler_path.rsplit(".", 1)
            module = importlib.import_module(f"functions.{module_name}")
            self.dispatcher.register(logical_id, getattr(module, func_name))
            if module_name.startswith("router."):
                self.router_function = logical_id
        if not self.router_function:
            raise LocalStackError("the template has no router function (handler router.handler.lambda_handler)")
        options = self.options
        # The emulator implements StartExecution, not StartSyncExecution: a router that reaches it over HTTP
        # polls; the router of this process starts its executions in-process and waits for their end.
        self.environment[names.ENV_ORCHESTRATION] = "poll"
        # The router runs in this process, beside the models: a single-tier plan streams its tokens.
        self.environment[names.ENV_STREAM_TOKENS] = "true"
        # ... and may ask the four-axis taxonomy's slow classifier where a trained dial configures one
        self.environment[names.ENV_SLOW_CLASSIFIER] = "true"
        # No API Gateway in front and models on a CPU: a longer deadline than in AWS (still one deadline).
        self.environment[names.ENV_REQUEST_DEADLINE_S] = str(options.deadline_s)
        self.environment[names.ENV_JOB_DEADLINE_S] = str(max(options.deadline_s, LOCAL_JOB_DEADLINE_S))
        self.environment[names.ENV_REQUIRE_KEYS] = "true" if options.require_keys else "false"
        self.environment[names.ENV_DECOMPOSITION] = "true" if options.decomposition else "false"
        if options.router_artifacts is not None:  # in AWS: the learned-router layer, mounted at /opt
            self.environment[names.ENV_ROUTER_ARTIFACTS] = str(options.router_artifacts.resolve())
        self._apply_env()
        from switchboard import composition

        # the warm-container caches are rebuilt against this stack's environment
        composition.use(composition.Container(composition.Parts(
            providers=options.providers, orchestrator=self._orchestrator())))

    def _orchestrator(self) -> Any:
        """The router's orchestrator: the lean executor of the definition unless it needs moto's interpreter."""
        from switchboard.local.asl_data import Unsupported
        from switchboard.local.inprocess import InProcessOrchestrator
        from switchboard.local.lean_orchestrator import LeanOrchestrator

        if self.options.executor == "lean":
            try:
                orchestrator: Any = LeanOrchestrator(self.resources.definition, self.state_machine_arn,
                                                     self.dispatcher.invoke)
                self.executor = "lean"
                return orchestrator
            except Unsupported as exc:
                self.warnings.append(f"the state machine runs on moto's interpreter (the lean executor cannot run it: {exc})")
        self.executor = "moto"
        return InProcessOrchestrator(self.state_machine_arn)

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
