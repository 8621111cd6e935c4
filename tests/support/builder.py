"""The one way tests build Switchboard's application services: ``service.assembly.assemble`` - the wiring
production uses - over in-memory fakes, each replaceable by keyword."""

from __future__ import annotations

from typing import Any

from switchboard.domain.catalog import ModelEntry
from switchboard.ports import ReleaseModels
from switchboard.service.assembly import ServiceLimits, ServicePorts, Services, assemble
from switchboard.service.decomposing import SplitSources
from switchboard.service.execution import Deadlines
from switchboard.service.routing import RoutingSources
from switchboard.service.slow_classifier import SlowClassifier
from tests.support.fakes import (
    FakeEncoder,
    InMemoryCatalog,
    InMemoryTaxonomy,
    InMemoryTraces,
    InProcessOrchestrator,
)


def build_services(catalog: InMemoryCatalog | list[ModelEntry], *, providers: Any = None,
                   traces: InMemoryTraces | None = None, taxonomy: Any = None, encoder: Any = FakeEncoder,
                   learned: Any = None, policy: Any = None, judge_policy: Any = None, verifier: Any = None,
                   verifier_sha256: str | None = None, embed: Any = None, axes: Any = None, shadow_models: Any = None,
                   keys: Any = None, orchestrator: Any = None,
                   fail_with: str | None = None, new_id: Any = None, stream_tokens: bool = False,
                   keep_alive_s: float = 5.0, max_prompt_chars: int = 32000, deadline_s: float = 25.0,
                   decompose: bool = False, decomposer_model: str | None = None) -> Services:
    """Services over fakes: the catalogue's models answered by ``providers`` through the in-process
    orchestrator (``fail_with``: every execution fails so; ``verifier`` and ``embed``: the decide task's), an empty
    taxonomy and the fake encoder unless given. ``stream_tokens``: the router may call ``providers`` itself
    to stream a single tier's tokens. ``encoder`` is a factory (a class or a lambda). ``decompose``: the
    router asks ``providers``' decomposer (``decomposer_model``, default the cheapest) for a compound
    request's parts."""
    if not isinstance(catalog, InMemoryCatalog):
        catalog = InMemoryCatalog(catalog)
    traces = traces if traces is not None else InMemoryTraces()
    if orchestrator is None and providers is not None:
        orchestrator = InProcessOrchestrator(catalog, providers, traces, fail_with=fail_with, verifier=verifier,
                                             embed=embed)
    routing = RoutingSources(catalog=catalog, taxonomy=taxonomy if taxonomy is not None else InMemoryTaxonomy([]),
                             encoder_factory=encoder, policy=policy, default_judge_policy=judge_policy,
                             models=lambda: ReleaseModels(learned=learned, verifier_sha256=verifier_sha256, axes=axes),
                             shadow_models=shadow_models,
                             slow=SlowClassifier(catalog, providers) if providers is not None else None)
    deadlines = Deadlines(request_s=deadline_s) if new_id is None else Deadlines(request_s=deadline_s, new_id=new_id)
    split = SplitSources(catalog, providers, decomposer_model=decomposer_model) if decompose else None
    return assemble(ServicePorts(routing=routing, orchestrator=orchestrator, traces=traces, keys=keys,
                                 providers=providers if stream_tokens else None, split=split),
                    ServiceLimits(max_prompt_chars=max_prompt_chars, deadlines=deadlines, keep_alive_s=keep_alive_s))


def complete_chat(services: Services, request: Any, authorization: str | None = None) -> Any:
    """What ``POST /v1/chat/completions`` does with a parsed request: authenticate the caller, map the
    request to a command, answer it (``ChatService.complete``); returns the final cascade state."""
    from switchboard.http.chat_completions import ChatCompletionRequest

    if not isinstance(request, ChatCompletionRequest):
        request = ChatCompletionRequest.model_validate(request)
    caller = services.admission.authenticate(authorization)
    return services.chat.complete(request.command(caller, services.limits.max_prompt_chars))


def complete(services: Services, request: Any, pinned: str | None = None) -> Any:
    """A domain ``ChatRequest`` answered with no caller (as the services take it)."""
    from switchboard.service.commands import ChatCommand

    return services.chat.complete(ChatCommand(request=request, pinned=pinned))
