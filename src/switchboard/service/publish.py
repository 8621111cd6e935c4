"""Publish a training run to a running Switchboard: the taxonomy, the dial, the judge policy and the
run's ONNX models (and optionally a model catalogue), with no redeploy.

``switchboard train --out DIR`` writes ``taxonomy.json`` (centroids, per-category tiers), ``dial.json``
(the operating points, profiles, calibration), ``judges.json`` and the ONNX models (``router.onnx``,
``verifier.onnx`` and their descriptions). With the stack's artifact bucket, publishing is a release
(``domain.release``): the files are uploaded under their sha256, then the taxonomy is written and the
release pointer, the dial and the judge policy are put in force in one transaction. Routers and decide
functions check the pointer every minute and load the new models, verified (``adapters.releases``).
Without a bucket (an older stack), the tables are written and the models stay the ones packaged with the
functions (CDK context ``switchboard:routerArtifacts``). The dial names the verifier it was calibrated
with; a function whose verifier differs plans without the dial (and logs why) rather than trusting scores
it was not calibrated for.

Everything is checked before the first write, so a bad directory never leaves a half-published taxonomy:
the centroids must have the encoder's dimension, catalogue entries must have a provider that can serve
live traffic, and models named by the taxonomy or the learned router but missing from the catalogue are
reported (the planner skips them, and a category with none left falls back to the default plan).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from switchboard.domain.catalog import ModelEntry
from switchboard.domain.dial import Dial
from switchboard.domain.judging import JudgePolicy
from switchboard.domain.release import (
    MODEL_FILES,
    RELEASE_FILES,
    Release,
    ReleasePointer,
    ShadowPolicy,
    release_version,
)
from switchboard.domain.taxonomy import Category
from switchboard.ports import BlobError, BlobStore, CatalogSource, CatalogWriter, PolicyWriter, TaxonomyWriter
from switchboard.service.traces import now_iso


class PublishError(ValueError):
    """The artifacts or the target cannot be published (the message says what to fix)."""


@dataclass
class PublishReport:
    categories: int = 0
    deleted_categories: list[str] = field(default_factory=list)
    catalog_entries: int = 0
    dial_points: int = 0
    judges: list[str] = field(default_factory=list)
    judges_calibrated_for: list[str] = field(default_factory=list)
    profiles: dict[str, str] = field(default_factory=dict)
    release: str | None = None  # the release put in force (None: no artifact bucket, tables only)
    replaced_release: str | None = None
    warnings: list[str] = field(default_factory=list)


def read_taxonomy(directory: Path, embedding_dim: int) -> list[Category]:
    path = directory / "taxonomy.json"
    if not path.is_file():
        raise PublishError(f"{path} not found; point at the --out directory of `switchboard train`")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        categories = [Category.model_validate(c) for c in raw["categories"]]
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise PublishError(f"{path} is not a trained taxonomy: {exc}") from exc
    if not categories:
        raise PublishError(f"{path} has no categories")
    require_dimension(categories, embedding_dim, path)
    return categories


def require_dimension(categories: Sequence[Category], dim: int, source: Path | str) -> None:
    """Every centroid must be ``dim``-dimensional (the router's encoder); raise naming the offenders."""
    wrong = sorted(c.name for c in categories if len(c.centroid) != dim)
    if wrong:
        raise PublishError(f"{source}: centroids of {wrong[:5]} are not {dim}-dimensional; the taxonomy was "
                           "not built with the router's encoder")


def read_catalog(path: Path) -> list[ModelEntry]:
    try:
        entries = [ModelEntry.model_validate(e) for e in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError, ValidationError) as exc:
        raise PublishError(f"{path} is not a model catalogue (a JSON list of model entries): {exc}") from exc
    replay = sorted(e.model_id for e in entries if e.provider in ("replay", "fault"))
    if replay:
        raise PublishError(f"catalogue entries {replay[:5]} use a provider that cannot serve live traffic "
                           "(replay serves recorded answers for offline evaluation; fault is a test drill). "
                           "Write a catalogue with the same model_ids and real providers (bedrock, openai, "
                           "anthropic, local_gguf)")
    return entries


def _router_models(directory: Path) -> list[str]:
    meta = directory / "router.json"
    if not meta.is_file():
        return []
    try:
        return list(json.loads(meta.read_text(encoding="utf-8")).get("models", []))
    except ValueError:
        return []


def coverage_warnings(categories: Sequence[Category], router_models: Sequence[str],
                      catalog_ids: set[str]) -> list[str]:
    """What the planner will have to skip because the catalogue does not know the model."""
    warnings = []
    for category in categories:
        missing = [m for m in category.tiers if m not in catalog_ids]
        if len(missing) == len(category.tiers):
            warnings.append(f"category '{category.name}': none of its tiers {category.tiers} is in the catalogue; "
                            "its prompts will get the default plan")
        elif missing:
            warnings.append(f"category '{category.name}': tiers {missing} are not in the catalogue and will be skipped")
    unknown = [m for m in router_models if m not in catalog_ids]
    if router_models and len(unknown) == len(router_models):
        warnings.append("none of the learned router's models is in the catalogue; it cannot route anything")
    elif unknown:
        warnings.append(f"the learned router scores models the catalogue does not have: {unknown}")
    return warnings


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_judges(directory: Path) -> JudgePolicy:
    """The run's measured judge policy (``judges.json``, fitted from collected verdicts)."""
    path = directory / "judges.json"
    try:
        return JudgePolicy.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PublishError(f"{path} is not a judge policy: {exc}") from exc


def read_dial(directory: Path) -> Dial:
    """The run's dial (``dial.json``), checked against the run's own learned router and verifier: the
    models it orders must be the router's, and the verifier it was calibrated with must be the one in the
    directory (the one that ships with the deployment's routing layer)."""
    path = directory / "dial.json"
    try:
        dial = Dial.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, ValidationError) as exc:
        raise PublishError(f"{path} is not a trained dial: {exc}") from exc
    router_models = _router_models(directory)
    if router_models and router_models != dial.models:
        raise PublishError(f"{path} orders {dial.models}, but the learned router in {directory} scores "
                           f"{router_models}: the files come from different training runs")
    verifier = directory / "verifier.onnx"
    if dial.verifier_sha256 and verifier.is_file() and _sha256(verifier) != dial.verifier_sha256:
        raise PublishError(f"{path} was calibrated with another verifier than {verifier}: the files come from "
                           "different training runs")
    unknown = sorted({p for p, name in dial.profiles.items() if name not in {q.name for q in dial.points}})
    if unknown:
        raise PublishError(f"{path}: profiles {unknown} name points the dial does not have")
    return dial


def upload_release(directory: Path, blobs: BlobStore, published_at: str) -> Release:
    """Every release file of ``directory`` into ``blobs``; the release that names them."""
    files: dict[str, str] = {}
    for name in RELEASE_FILES:
        path = directory / name
        if path.is_file():
            try:
                files[name] = blobs.put(path.read_bytes())
            except BlobError as exc:
                raise PublishError(f"cannot upload {path}: {exc}") from exc
    return Release(version=release_version(files, published_at), files=files, published_at=published_at,
                   source=str(directory))


def publish_shadow(directory: str | Path, *, policy_store: PolicyWriter, blobs: BlobStore) -> Release:
    """Install a training run as the shadow policy: its files uploaded like a release, its dial beside
    the live one. Routers plan every request with it too and record that plan; nothing live changes."""
    directory = Path(directory)
    if not (directory / "dial.json").is_file() or not (directory / "router.onnx").is_file():
        raise PublishError(f"{directory} has no dial.json and router.onnx: a shadow policy is a trained dial "
                           "and its learned router (the --out directory of `switchboard train`)")
    dial = read_dial(directory)
    release = upload_release(directory, blobs, now_iso())
    policy_store.put_shadow(ShadowPolicy(release=release, dial=dial), now_iso())
    return release


def publish(directory: str | Path, *, taxonomy_store: TaxonomyWriter, catalog_store: CatalogWriter | None = None,
            catalog_path: Path | None = None, current_catalog: CatalogSource | None = None,
            policy_store: PolicyWriter | None = None, embedding_dim: int = 384,
            blobs: BlobStore | None = None) -> PublishReport:
    """Validate ``directory`` (and the catalogue file, if any), then write the taxonomy (replacing the
    table's categories), the catalogue entries and the dial and judge policy (the Policy table) - as a
    release, with the run's models uploaded to ``blobs`` first, when there is an artifact bucket.
    ``*_store`` are the ports' writers (``DynamoTaxonomy``/``DynamoCatalog``/``DynamoPolicy``, or fakes);
    ``current_catalog`` is read to check coverage when no catalogue file is published."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PublishError(f"{directory} is not a directory")
    categories = read_taxonomy(directory, embedding_dim)
    dial = read_dial(directory) if (directory / "dial.json").is_file() else None
    judges = read_judges(directory) if (directory / "judges.json").is_file() else None
    entries = read_catalog(catalog_path) if catalog_path is not None else None
    if entries is not None and catalog_store is None:
        raise PublishError("a catalogue file was given but no catalogue table to write it to")
    report = PublishReport()
    if entries is not None:
        catalog_ids = {e.model_id for e in entries}
    elif current_catalog is not None:
        catalog_ids = set(current_catalog.models())
    else:
        catalog_ids = set()
    if entries is not None or current_catalog is not None:  # unknown catalogue: nothing to check against
        report.warnings = coverage_warnings(categories, _router_models(directory), catalog_ids)
    if judges is not None and policy_store is None:
        report.warnings.append(f"{directory} has a judge policy, but no policy table was given: it is not "
                               "published")
    if dial is not None and policy_store is None:
        report.warnings.append(f"{directory} has a dial, but no policy table was given (--policy-table, or "
                               "--stack): it is not published, and routers plan with the taxonomy alone")
    release = None
    if blobs is not None and policy_store is not None:
        release = upload_release(directory, blobs, now_iso())  # before anything points at it
    elif any((directory / name).is_file() for name in MODEL_FILES):
        report.warnings.append(f"the ONNX models of {directory} are not published (no artifact bucket: --bucket, "
                               "or a stack with one): functions keep the models they were deployed with")
    if entries is not None:
        assert catalog_store is not None
        report.catalog_entries = catalog_store.put_all(entries)
    report.categories, report.deleted_categories = taxonomy_store.replace_all(categories)
    if release is not None:
        assert policy_store is not None
        previous = policy_store.release()
        pointer = ReleasePointer.advanced(previous, release)
        policy_store.put_release(pointer, dial, judges, now_iso())
        report.release = pointer.current.version
        report.replaced_release = previous.current.version if previous is not None else None
    else:
        if dial is not None and policy_store is not None:
            policy_store.put(dial, now_iso())
        if judges is not None and policy_store is not None:
            policy_store.put_judges(judges, now_iso())
    if dial is not None and policy_store is not None:
        report.dial_points = len(dial.points)
        report.profiles = dict(dial.profiles)
    if judges is not None and policy_store is not None:
        report.judges = list(judges.judges)
        report.judges_calibrated_for = sorted({*judges.calibration,
                                               *(f"{m} on {r.name} prompts" for r in judges.regions for m in r.calibration)})
    return report


def tables_from_stack(stack_name: str, cloudformation: Any) -> dict[str, str]:
    """The deployed stack's table names, from its CloudFormation outputs (``TaxonomyTableName``,
    ``CatalogTableName``); ``cloudformation`` is an injected boto3 client."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:  # botocore ClientError (stack does not exist), no credentials, no network
        raise PublishError(f"cannot read stack '{stack_name}': {exc}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (stacks[0].get("Outputs") or [])} if stacks else {}
    try:
        tables = {"taxonomy": outputs["TaxonomyTableName"], "catalog": outputs["CatalogTableName"]}
    except KeyError as exc:
        raise PublishError(f"stack '{stack_name}' has no output {exc}; is it a Switchboard stack?") from exc
    if "PolicyTableName" in outputs:
        tables["policy"] = outputs["PolicyTableName"]
    if "TracesTableName" in outputs:
        tables["traces"] = outputs["TracesTableName"]
    if "KeysTableName" in outputs:
        tables["keys"] = outputs["KeysTableName"]
    if "ArtifactBucketName" in outputs:
        tables["bucket"] = outputs["ArtifactBucketName"]
    return tables
