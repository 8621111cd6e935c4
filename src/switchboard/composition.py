"""The composition root: the one place where adapters are chosen and wired into the services.

Every Lambda handler asks ``container()`` for what it needs (``catalog()``, ``providers()``, ``traces()``,
``services()``...). Each part is built on first use from the function's typed settings (read from the
environment once) and cached for the life of the warm container, so a tier function never reads the
router's settings and nothing is created at import time. Tests and the local stack replace the container
with ``use(Container(Parts(...)))`` - presetting typed parts with fakes (a misspelt part is a TypeError,
never a silently built real adapter) - or rebuild it with ``reset()``.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from switchboard import envvars as names
from switchboard.domain.judging import JudgePolicy, WorkedExample
from switchboard.ports import (
    CatalogSource,
    Orchestrator,
    PolicySource,
    ProviderSource,
    ReleaseModelSource,
    ResponseStore,
    SessionStore,
    TaxonomySource,
    TraceStore,
    Verifier,
)
from switchboard.service.api_keys import KeyService
from switchboard.service.assembly import ServiceLimits, ServicePorts, Services, assemble
from switchboard.service.decomposing import SplitSources
from switchboard.service.execution import Deadlines
from switchboard.service.routing import RoutingSources
from switchboard.service.settings import (
    ModelCallSettings,
    RecordSettings,
    ReleaseSettings,
    RouterSettings,
    SettingsError,
)
from switchboard.service.slow_classifier import SlowClassifier

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Parts:
    """Parts of a container, preset (tests, the local stack) or built on first use (None)."""

    catalog: CatalogSource | None = None
    taxonomy: TaxonomySource | None = None
    traces: TraceStore | None = None
    providers: ProviderSource | None = None
    orchestrator: Orchestrator | None = None
    policy: PolicySource | None = None
    keys: KeyService | None = None
    responses: ResponseStore | None = None
    sessions: SessionStore | None = None
    services: Services | None = None
    releases: ReleaseModelSource | None = None
    router_settings: RouterSettings | None = None
    model_call_settings: ModelCallSettings | None = None
    record_settings: RecordSettings | None = None
    release_settings: ReleaseSettings | None = None


S = TypeVar("S", RouterSettings, ModelCallSettings, RecordSettings, ReleaseSettings)
EMBED_CACHE_TEXTS = 256  # texts whose embeddings a warm container keeps (answers of recent requests)
_SETTINGS_PARTS: dict[type, str] = {RouterSettings: "router_settings", ModelCallSettings: "model_call_settings",
                                    RecordSettings: "record_settings", ReleaseSettings: "release_settings"}


class Container:
    """Lazily built, cached collaborators of the five functions; ``parts`` presets any of them."""

    def __init__(self, parts: Parts | None = None, env: Mapping[str, str] | None = None) -> None:
        self._env = env
        self._parts: dict[str, Any] = {f.name: getattr(parts, f.name) for f in fields(Parts)
                                       if parts is not None and getattr(parts, f.name) is not None}
        self._lock = threading.RLock()

    def _part(self, name: str, build: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._parts:
                self._parts[name] = build()
            return self._parts[name]  # type: ignore[no-any-return]

    # ---- settings --------------------------------------------------------------------------------
    def settings(self, kind: type[S]) -> S:
        """A function's typed settings (``RouterSettings``, ``ModelCallSettings``, ``RecordSettings``,
        ``ReleaseSettings``), read from the environment once."""
        return self._part(_SETTINGS_PARTS[kind], lambda: kind.from_env(self._env))

    # ---- adapters --------------------------------------------------------------------------------
    def catalog(self) -> CatalogSource:
        from switchboard.adapters.stores.dynamo import DynamoCatalog

        return self._part("catalog", lambda: DynamoCatalog(self.settings(ModelCallSettings).catalog_table))

    def taxonomy(self) -> TaxonomySource:
        from switchboard.adapters.stores.dynamo import DynamoTaxonomy

        return self._part("taxonomy", lambda: DynamoTaxonomy(self.settings(RouterSettings).taxonomy_table))

    def traces(self) -> TraceStore:
        from switchboard.adapters.stores.dynamo import DynamoTraces

        return self._part("traces", lambda: DynamoTraces(self.settings(RecordSettings).traces_table))

    def providers(self) -> ProviderSource:
        from switchboard.adapters.providers.registry import ProviderRegistry

        return self._part("providers", lambda: ProviderRegistry(model_dir=self.settings(ModelCallSettings).model_dir))

    def policy(self) -> PolicySource | None:
        """The published dial, judge policy and release pointer (None when the deployment has no policy
        table), re-read every ``SB_POLICY_TTL_S`` seconds."""
        from switchboard.adapters.stores.dynamo import DynamoPolicy

        s = self.settings(ReleaseSettings)
        return self._part("policy", lambda: DynamoPolicy(s.policy_table, cache_s=s.policy_ttl_s)
                          if s.policy_table else None)

    def releases(self) -> ReleaseModelSource:
        """The training run's models in force (``adapters.releases``): the release the Policy table's
        pointer names, from the artifact bucket, else the ones packaged with the function."""
        from switchboard.adapters.releases import ReleaseLoader, load_directory

        def build() -> ReleaseModelSource:
            s = self.settings(ReleaseSettings)
            blobs = None
            if s.artifact_bucket:
                from switchboard.adapters.stores.s3_blobs import S3Blobs

                blobs = S3Blobs(s.artifact_bucket)
            cache = s.release_cache or str(Path(tempfile.gettempdir()) / "switchboard-releases")
            return ReleaseLoader(self.policy() if blobs is not None else None, blobs, cache,
                                 packaged=lambda: load_directory(s.router_artifacts), on_failure=release_failed,
                                 retry_s=s.policy_ttl_s)

        return self._part("releases", build)

    def verifier(self, release: str | None = None) -> Verifier | None:
        """The verifier of the release a plan names (None: the packaged one), or None when none is deployed
        or it cannot be loaded: dial plans are then never accepted as verified."""
        models = self.releases().for_version(release)
        return models.verifier if models is not None else None

    def embed(self) -> Callable[[str], Any]:
        """The sentence encoder's one-text embedding (free-text answer equivalence, and the verifier's answer
        features), loaded on first use. The last texts' vectors are kept: the decide task of a later tier
        of the same request embeds the answers bought earlier again."""
        from functools import lru_cache

        from switchboard.adapters.encoder import get_encoder

        def build() -> Callable[[str], Any]:
            @lru_cache(maxsize=EMBED_CACHE_TEXTS)
            def embed(text: str) -> Any:
                vector = get_encoder().embed_one(text)
                vector.setflags(write=False)  # shared by every caller of the cache
                return vector

            return embed

        return self._part("embed", build)

    def orchestrator(self) -> Orchestrator:
        from switchboard.adapters.orchestration import (
            DEADLINE_GRACE_S,
            PollingOrchestrator,
            SyncExpressOrchestrator,
        )

        def build() -> Orchestrator:
            s = self.settings(RouterSettings)
            if s.orchestration == "sync":
                return SyncExpressOrchestrator(s.state_machine_arn, wait_s=s.request_deadline_s + DEADLINE_GRACE_S + 1)
            return PollingOrchestrator(s.state_machine_arn)

        return self._part("orchestrator", build)

    # ---- services --------------------------------------------------------------------------------
    def services(self) -> Services:
        """The router's application services (``service.assembly``) on this container's adapters."""
        def build() -> Services:
            from switchboard.adapters.encoder import get_encoder
            from switchboard.adapters.stores.dynamo import DynamoSessions

            s = self.settings(RouterSettings)
            table = s.sessions_table  # sessions' models (none: sessions do not keep their model)
            sessions = self._part("sessions", lambda: DynamoSessions(table) if table else None)
            routing = RoutingSources(catalog=self.catalog(), taxonomy=self.taxonomy(), encoder_factory=get_encoder,
                                     models=self.releases().current, shadow_models=self.releases().load,
                                     slow=SlowClassifier(self.catalog(), self.providers()) if s.slow_classifier else None,
                                     policy=self.policy(),
                                     default_judge_policy=load_judge_policy(s.judge_policy, s.router_artifacts),
                                     default_examples=load_examples())
            split = SplitSources(self.catalog(), self.providers() if s.decomposition else None,
                                 decomposer_model=s.decomposer_model, enabled=s.decomposition)
            ports = ServicePorts(routing=routing, orchestrator=self.orchestrator(), traces=self.traces(),
                                 keys=self.keys(), providers=self.providers() if s.stream_tokens else None,
                                 split=split, responses=self.responses(), sessions=sessions)
            return assemble(ports, ServiceLimits(trace_ttl_days=s.trace_ttl_days, max_prompt_chars=s.max_prompt_chars,
                                                 deadlines=Deadlines(s.request_deadline_s, s.job_deadline_s)))

        return self._part("services", build)

    def responses(self) -> ResponseStore | None:
        """The Responses API's stored responses (None when the deployment has no responses table)."""
        from switchboard.adapters.stores.dynamo import DynamoResponses

        table = self.settings(RouterSettings).responses_table
        return self._part("responses", lambda: DynamoResponses(table) if table else None)

    def keys(self) -> KeyService | None:
        """Callers' API keys and budgets (None when the deployment has no keys table)."""
        from switchboard.adapters.stores.dynamo_keys import DynamoKeys

        s = self.settings(RouterSettings)
        if s.require_keys and not s.keys_table:
            raise SettingsError(f"{names.ENV_REQUIRE_KEYS} is true but {names.ENV_KEYS_TABLE} is not set")
        return self._part("keys", lambda: KeyService(DynamoKeys(s.keys_table), required=s.require_keys)
                          if s.keys_table else None)


DEFAULT_JUDGE_POLICY = Path(__file__).parent / "data" / "judges.local.json"
SHIPPED_EXAMPLES = Path(__file__).parent / "data" / "self_verify.examples.json"


def release_failed(version: str, reason: str) -> None:
    """A release that cannot be loaded, as a metric (``ReleaseLoadFailed``; the loader logs the details)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name="ReleaseLoadFailed", unit=MetricUnit.Count, value=1, namespace="Switchboard") as metric:
        metric.add_dimension(name="reason", value=reason)


def load_examples(path: Path = SHIPPED_EXAMPLES) -> list[WorkedExample]:
    """The shipped worked examples of few-shot self-verification (general questions of several kinds, two
    answered right and two wrong), for prompts where the judge policy brings none of its own."""
    try:
        return [WorkedExample.model_validate(e) for e in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError) as exc:
        raise SettingsError(f"self-verification examples {path} cannot be read: {exc}") from exc


def load_judge_policy(setting: str | None, router_artifacts: str | None) -> JudgePolicy | None:
    """The judge policy a router plans with until one is published (see ``envvars.ENV_JUDGE_POLICY``). A
    configured file that cannot be read is an error at start, not a silent fallback."""
    if setting and setting.lower() == "none":
        return None
    if setting:
        path = Path(setting)
    elif router_artifacts and (Path(router_artifacts) / "judges.json").is_file():
        path = Path(router_artifacts) / "judges.json"
    elif DEFAULT_JUDGE_POLICY.is_file():
        path = DEFAULT_JUDGE_POLICY
    else:
        return None
    try:
        return JudgePolicy.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SettingsError(f"judge policy {path} cannot be read: {exc}") from exc


_CURRENT: Container | None = None
_CURRENT_LOCK = threading.Lock()


def container() -> Container:
    """The process's container (one per warm Lambda container; one for the whole local stack). The first
    one also installs the OTLP span export when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set."""
    global _CURRENT
    with _CURRENT_LOCK:
        if _CURRENT is None:
            from switchboard.adapters.telemetry import install

            install()
            _CURRENT = Container()
        return _CURRENT


def use(replacement: Container | None) -> None:
    """Replace the container (tests inject fakes); ``None`` makes the next ``container()`` build afresh."""
    global _CURRENT
    with _CURRENT_LOCK:
        _CURRENT = replacement


def reset() -> None:
    """Forget every cached part, e.g. after the environment changed (the local stack at start)."""
    use(None)


# Lambda's init types that run ahead of any request (``AWS_LAMBDA_INITIALIZATION_TYPE``)
AHEAD_OF_TRAFFIC = ("provisioned-concurrency", "snap-start")


def warm_ahead_of_traffic(init_type: str | None = None) -> bool:
    """Load the sentence encoder - and with provisioned concurrency build the router's services - at init,
    when Lambda initialises the environment ahead of traffic, so a request that lands on it does not pay
    for them; on demand both wait for the first request. A SnapStart snapshot takes the encoder only
    (plain memory): AWS clients built before it would carry connections and credentials that are stale
    after a restore. Nothing here calls AWS. A failure is logged and left to the first request, which
    builds what is missing (and reports its error). ``init_type`` defaults to Lambda's own."""
    import os

    init_type = init_type or os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")
    if init_type not in AHEAD_OF_TRAFFIC:
        return False
    try:
        from switchboard.adapters.encoder import get_encoder

        if init_type != "snap-start":
            container().services()
        get_encoder().embed_one("warm")
    except Exception:  # noqa: BLE001 - init must not fail on what the first request can rebuild and report
        log.exception("warming the router at init failed; the first request builds it")
        return False
    return True
