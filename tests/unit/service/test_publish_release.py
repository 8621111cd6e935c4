"""``publish`` with an artifact bucket is a release: files uploaded first, then the taxonomy, then the
pointer with the dial and judge policy in one write; ``rollback`` puts the previous release back exactly,
or refuses and moves nothing."""

from __future__ import annotations

import json

import pytest

from switchboard.service.publish import PublishError, publish
from switchboard.service.releases import rollback
from tests.support.fakes import InMemoryBlobs, InMemoryPolicy, InMemoryTaxonomy
from tests.support.tiny_onnx import write_run

DIM = 4


def _run(tmp_path, name, categories, bias):
    run = write_run(tmp_path / name, ["small", "big"], bias, dim=DIM)
    (run / "taxonomy.json").write_text(json.dumps({"categories": [
        {"name": c, "centroid": [1.0, 0.0, 0.0, float(i)], "tiers": ["small", "big"]} for i, c in enumerate(categories)]}))
    return run


def _publish(run, taxonomy, policy, blobs):
    return publish(run, taxonomy_store=taxonomy, policy_store=policy, blobs=blobs, embedding_dim=DIM)


def test_publish_uploads_the_run_and_points_at_it_and_a_rollback_restores_the_previous_release(tmp_path):
    taxonomy, policy, blobs = InMemoryTaxonomy(), InMemoryPolicy(None), InMemoryBlobs()
    first = _publish(_run(tmp_path, "v1", ["code", "math"], [0.0, 1.0]), taxonomy, policy, blobs)
    assert first.release == policy.release().current.version and first.replaced_release is None
    assert set(policy.release().current.files) == {"router.onnx", "router.json", "verifier.onnx", "verifier.json",
                                                   "taxonomy.json"}
    assert all(sha in blobs.blobs for sha in policy.release().current.files.values())
    second = _publish(_run(tmp_path, "v2", ["history"], [1.0, 0.0]), taxonomy, policy, blobs)
    assert second.replaced_release == first.release and second.deleted_categories == ["code", "math"]
    assert [c.name for c in taxonomy.categories()] == ["history"]

    back = rollback(taxonomy_store=taxonomy, policy_store=policy, blobs=blobs, embedding_dim=DIM)
    assert (back.restored, back.rolled_back_from) == (first.release, second.release)
    assert policy.release().current.version == first.release and policy.release().previous == []
    assert sorted(c.name for c in taxonomy.categories()) == ["code", "math"]  # the taxonomy came back too
    with pytest.raises(PublishError, match="nothing to roll back to"):
        rollback(taxonomy_store=taxonomy, policy_store=policy, blobs=blobs, embedding_dim=DIM)


def test_a_rollback_to_a_release_whose_files_are_gone_moves_nothing(tmp_path):
    taxonomy, policy, blobs = InMemoryTaxonomy(), InMemoryPolicy(None), InMemoryBlobs()
    first = _publish(_run(tmp_path, "v1", ["code"], [0.0, 1.0]), taxonomy, policy, blobs)
    _publish(_run(tmp_path, "v2", ["history"], [1.0, 0.0]), taxonomy, policy, blobs)
    blobs.corrupt(policy.release().find(first.release).files["verifier.onnx"])
    before = policy.release()
    with pytest.raises(PublishError, match=f"release {first.release} cannot be restored: its verifier.onnx"):
        rollback(taxonomy_store=taxonomy, policy_store=policy, blobs=blobs, embedding_dim=DIM)
    assert policy.release() == before and [c.name for c in taxonomy.categories()] == ["history"]


def test_without_a_bucket_the_tables_are_written_and_the_models_stay_as_deployed(tmp_path):
    taxonomy, policy = InMemoryTaxonomy(), InMemoryPolicy(None)
    report = publish(_run(tmp_path, "v1", ["code"], [0.0, 1.0]), taxonomy_store=taxonomy, policy_store=policy,
                     embedding_dim=DIM)
    assert report.release is None and policy.release() is None
    assert any("ONNX models" in w and "not published" in w for w in report.warnings)


def test_rollback_without_any_release_says_so(tmp_path):
    with pytest.raises(PublishError, match="no release is in force"):
        rollback(taxonomy_store=InMemoryTaxonomy(), policy_store=InMemoryPolicy(None), blobs=InMemoryBlobs())
