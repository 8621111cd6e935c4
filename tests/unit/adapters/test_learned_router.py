"""The learned router's artifacts are checked before use, and a taxonomy or learned router that does not
fit the encoder degrades routing to the default plan instead of failing requests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from switchboard.adapters.learned import LearnedRouterUnavailable, OnnxLearnedRouter, check_router_artifacts
from switchboard.adapters.releases import load_directory
from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.taxonomy import Category, CentroidIndex, TaxonomyMismatch
from tests.support.builder import build_services
from tests.support.fakes import InMemoryTaxonomy, catalog_entry


def _write(directory: Path, meta: dict | str, onnx: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "router.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    if onnx:
        (directory / "router.onnx").write_bytes(b"not really a graph")
    return directory


@pytest.mark.parametrize(("meta", "onnx", "message"), [
    ({"models": ["a"]}, False, r"lacks \['router.onnx'\]"),
    ("{not json", True, "not a router description"),
    ({"models": []}, True, "names no models"),
    ({"models": ["a"], "input": {"encoder": "e5-large"}}, True, "trained on 'e5-large'"),
])
def test_bad_router_artifacts_are_refused_with_the_reason(tmp_path, meta, onnx, message):
    with pytest.raises(LearnedRouterUnavailable, match=message):
        check_router_artifacts(_write(tmp_path / "r", meta, onnx))


def test_a_corrupt_onnx_graph_is_refused_at_load(tmp_path):
    directory = _write(tmp_path / "r", {"models": ["a"], "input": {"encoder": "all-minilm-l6-v2-int8"}})
    with pytest.raises(LearnedRouterUnavailable, match="cannot load"):
        OnnxLearnedRouter(directory)


def test_no_directory_means_no_learned_router_and_no_verifier(tmp_path):
    assert load_directory(None).learned is None
    empty = load_directory(tmp_path, version="v")
    assert (empty.version, empty.learned, empty.verifier) == ("v", None, None)


def test_centroid_index_rejects_mixed_or_mismatched_dimensions():
    with pytest.raises(TaxonomyMismatch, match="mixed"):
        CentroidIndex([Category(name="a", centroid=[1, 0], tiers=["m"]),
                       Category(name="b", centroid=[1, 0, 0], tiers=["m"])])
    index = CentroidIndex([Category(name="a", centroid=[1, 0, 0], tiers=["m"])])
    with pytest.raises(TaxonomyMismatch, match="3-d"):
        index.nearest(np.ones(8, dtype=np.float32))


class ExplodingRouter:
    models = ["small", "big"]

    def predict(self, embedding):
        raise LearnedRouterUnavailable("the learned router expects 384-d embeddings, got 8-d")


def test_a_taxonomy_of_another_encoder_and_a_broken_learned_router_fall_back_to_the_default_plan(caplog):
    wrong_dim = InMemoryTaxonomy([Category(name="code", centroid=[1.0, 0.0, 0.0], tiers=["big"])])
    svc = build_services([catalog_entry("small", price=0.1), catalog_entry("big", price=5)], taxonomy=wrong_dim,
                         learned=ExplodingRouter())
    plan = svc.planner.plan(ChatRequest(messages=[Message(role="user", content="Write a python function")]))
    assert plan.route == "default" and [t.model for t in plan.tiers] == ["small", "big"]
    logged = caplog.text
    assert "taxonomy does not fit the encoder" in logged and "learned router failed" in logged
