"""The fakes satisfy the ports they stand in for, checked statically: mypy (``scripts/test.sh``) reads this
module, so a fake whose method drifts from its protocol (a parameter added to the port, renamed in the
fake) fails the type check instead of passing a test it should not."""

from __future__ import annotations

from switchboard.ports import (
    BlobStore,
    CatalogSource,
    CatalogWriter,
    KeyStore,
    Orchestrator,
    PolicySource,
    PolicyWriter,
    Provider,
    ProviderSource,
    ResponseStore,
    SessionStore,
    TaxonomySource,
    TaxonomyWriter,
    TraceStore,
)
from tests.support.fakes import (
    InMemoryBlobs,
    InMemoryCatalog,
    InMemoryKeys,
    InMemoryPolicy,
    InMemoryResponses,
    InMemorySessions,
    InMemoryTaxonomy,
    InMemoryTraces,
    InProcessOrchestrator,
    ScriptedProvider,
    ScriptedProviders,
)


def conforming() -> list[object]:
    catalog = InMemoryCatalog()
    traces = InMemoryTraces()
    providers = ScriptedProviders({})
    policy = InMemoryPolicy(None)
    taxonomy = InMemoryTaxonomy()
    ports: tuple[CatalogSource, CatalogWriter, TaxonomySource, TaxonomyWriter, PolicySource, PolicyWriter,
                 TraceStore, KeyStore, Provider, ProviderSource, Orchestrator, BlobStore, ResponseStore,
                 SessionStore] = (
        catalog, catalog, taxonomy, taxonomy, policy, policy, traces, InMemoryKeys(), ScriptedProvider(),
        providers, InProcessOrchestrator(catalog, providers, traces), InMemoryBlobs(), InMemoryResponses(),
        InMemorySessions())
    return list(ports)
