"""Roll the release pointer back one release (``publish`` puts a release in force: ``service.publish``).

``rollback``
puts the release before the current one back in force - its taxonomy, dial and judge policy read back
from the bucket and checked against their sha256, and every model file of it fetched and checked
before the pointer moves, so a rollback never points the functions at something they cannot load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from switchboard.domain.dial import Dial
from switchboard.domain.judging import JudgePolicy
from switchboard.domain.release import NothingToRollBack, Release
from switchboard.domain.taxonomy import Category
from switchboard.ports import BlobError, BlobStore, PolicyWriter, TaxonomyWriter
from switchboard.service.publish import PublishError, require_dimension
from switchboard.service.traces import now_iso


@dataclass
class RollbackReport:
    restored: str
    rolled_back_from: str
    categories: int
    deleted_categories: list[str]


def _fetch(blobs: BlobStore, release: Release, name: str) -> bytes | None:
    sha = release.files.get(name)
    if sha is None:
        return None
    try:
        return blobs.get(sha)
    except BlobError as exc:
        raise PublishError(f"release {release.version} cannot be restored: its {name} {exc}") from exc


def rollback(*, taxonomy_store: TaxonomyWriter, policy_store: PolicyWriter, blobs: BlobStore,
             embedding_dim: int = 384) -> RollbackReport:
    """Put the release before the current one back in force (see the module)."""
    pointer = policy_store.release()
    if pointer is None:
        raise PublishError("no release is in force (nothing was published with an artifact bucket): nothing to "
                           "roll back")
    try:
        back = pointer.rolled_back()
    except NothingToRollBack as exc:
        raise PublishError(str(exc)) from exc
    target = back.current
    for name in target.files:  # every file must still be there and intact before anything moves
        _fetch(blobs, target, name)
    try:
        dial_bytes, judges_bytes = _fetch(blobs, target, "dial.json"), _fetch(blobs, target, "judges.json")
        dial = Dial.model_validate_json(dial_bytes) if dial_bytes is not None else None
        judges = JudgePolicy.model_validate_json(judges_bytes) if judges_bytes is not None else None
        taxonomy_bytes = _fetch(blobs, target, "taxonomy.json")
        categories = ([Category.model_validate(c) for c in json.loads(taxonomy_bytes)["categories"]]
                      if taxonomy_bytes is not None else None)
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise PublishError(f"release {target.version} cannot be restored: {exc}") from exc
    written, deleted = 0, list[str]()
    if categories:
        require_dimension(categories, embedding_dim, f"release {target.version}")
        written, deleted = taxonomy_store.replace_all(categories)
    policy_store.put_release(back, dial, judges, now_iso())
    return RollbackReport(restored=target.version, rolled_back_from=pointer.current.version, categories=written,
                          deleted_categories=deleted)
