"""What can be asked for: the model list (``GET /v1/models``) and readiness (``GET /health``)."""

from __future__ import annotations

from typing import Any

from switchboard.ports import CatalogSource
from switchboard.service.errors import NotReady
from switchboard.service.routing import RoutePlanner


class Inventory:
    def __init__(self, catalog: CatalogSource, planner: RoutePlanner) -> None:
        self.catalog = catalog
        self.planner = planner

    def models(self) -> dict[str, Any]:
        """OpenAI's model list: the routing names (``auto`` and, with a published dial, ``auto:<profile>``)
        and every catalogue model a caller may pin (test doubles that are not routable are left out)."""
        dial = self.planner.dial()
        names = ["auto", *(f"auto:{p}" for p in sorted(dial.profiles))] if dial is not None else ["auto"]
        entries: list[dict[str, Any]] = [{"id": n, "object": "model", "created": 0, "owned_by": "switchboard"}
                                         for n in names]
        for model_id, entry in sorted(self.catalog.models().items()):
            if not entry.routable:
                continue
            entries.append({"id": model_id, "object": "model", "created": 0, "owned_by": entry.provider,
                            "switchboard": {"price": entry.price.model_dump(), "context_tokens": entry.context_tokens}})
        return {"object": "list", "data": entries}

    def health(self) -> dict[str, Any]:
        """Readiness: the catalogue can be read and has a model to route to."""
        usable = [m for m, e in self.catalog.models().items() if e.routable]
        if not usable:
            raise NotReady("the catalogue has no model yet: publish one (switchboard publish --catalog)")
        return {"status": "ok", "models": len(usable), "dial": self.planner.dial() is not None,
                "judge_policy": self.planner.judge_policy() is not None}
