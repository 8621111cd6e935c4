"""The application services, assembled from the ports they use: the one place they are wired together,
used by the composition root (real adapters) and by the tests (fakes) alike."""

from __future__ import annotations

from dataclasses import dataclass, field

from switchboard.ports import Orchestrator, ProviderSource, ResponseStore, SessionStore, TraceStore
from switchboard.service.admission import Admission
from switchboard.service.affinity import Affinity, AffinityPlanner
from switchboard.service.api_keys import KeyService
from switchboard.service.chat import ChatService
from switchboard.service.decomposing import SplitSources, Splitter
from switchboard.service.execution import CascadeRunner, Deadlines
from switchboard.service.inventory import Inventory
from switchboard.service.jobs import JobService
from switchboard.service.responses import ResponseBook
from switchboard.service.routing import RoutePlanner, RoutingSources
from switchboard.service.streaming import StreamService, StreamSources
from switchboard.service.traces import TraceBook


@dataclass
class ServicePorts:
    """The adapters the services run on. ``providers``: where the router may call a model itself, to
    stream a single tier's tokens (None: every answer comes from the cascade's tier task)."""

    routing: RoutingSources
    orchestrator: Orchestrator
    traces: TraceStore
    keys: KeyService | None = None
    providers: ProviderSource | None = None
    # where the router calls the decomposer (None: requests are never decomposed)
    split: SplitSources | None = None
    responses: ResponseStore | None = None  # the Responses API's stored responses (None: not stored)
    sessions: SessionStore | None = None  # a session's model (None: sessions do not keep their model)


@dataclass
class ServiceLimits:
    trace_ttl_days: int = 30
    max_prompt_chars: int = 32000
    deadlines: Deadlines = field(default_factory=Deadlines)
    keep_alive_s: float = 5.0  # between keep-alive events of a stream while a cascade works


@dataclass(frozen=True)
class Services:
    """One of each application service, sharing their collaborators."""

    planner: RoutePlanner
    admission: Admission
    runner: CascadeRunner
    splitter: Splitter
    chat: ChatService
    streams: StreamService
    jobs: JobService
    inventory: Inventory
    traces: TraceBook
    limits: ServiceLimits
    responses: ResponseBook


def assemble(ports: ServicePorts, limits: ServiceLimits | None = None) -> Services:
    limits = limits or ServiceLimits()
    traces = TraceBook(ports.traces, limits.trace_ttl_days)
    affinity = Affinity(ports.traces, ports.sessions)
    planner = AffinityPlanner(ports.routing, affinity)
    admission = Admission(planner, traces, ports.keys)
    runner = CascadeRunner(ports.orchestrator, traces, limits.deadlines, on_answer=affinity.remember)
    splitter = Splitter(planner, ports.split or SplitSources(ports.routing.catalog, enabled=False))
    streams = StreamService(admission, planner, runner,
                            StreamSources(ports.routing.catalog, ports.providers, limits.keep_alive_s), splitter)
    return Services(planner=planner, admission=admission, runner=runner, splitter=splitter,
                    chat=ChatService(admission, planner, runner, splitter), streams=streams,
                    jobs=JobService(planner, runner, traces, splitter),
                    inventory=Inventory(ports.routing.catalog, planner), traces=traces, limits=limits,
                    responses=ResponseBook(ports.responses, limits.trace_ttl_days))
