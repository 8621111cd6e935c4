"""A local stack that cannot start says why and leaves nothing behind (no emulator, no environment)."""

from __future__ import annotations

import json
import os

import pytest

from switchboard.local.stack import LocalStack, LocalStackError, StackOptions

pytestmark = pytest.mark.e2e


def test_a_taxonomy_of_another_encoder_fails_the_start_and_is_cleaned_up(tmp_path):
    bad = tmp_path / "taxonomy.json"
    bad.write_text(json.dumps({"categories": [{"name": "x", "centroid": [1.0, 0.0], "tiers": ["m"]}]}))
    before = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL_DYNAMODB", "MOTO_PORT", "SB_TAXONOMY_TABLE")}
    stack = LocalStack(StackOptions(taxonomy_path=bad))
    with pytest.raises(LocalStackError, match="not 384-dimensional"):
        stack.start()
    assert {k: os.environ.get(k) for k in before} == before
    # the process can still start a good stack (the failed one released its emulator and dispatcher)
    good = LocalStack().start()
    try:
        assert good.warnings == []
    finally:
        good.stop()


def test_a_directory_without_a_learned_router_is_refused_before_anything_starts(tmp_path):
    stack = LocalStack(StackOptions(router_artifacts=tmp_path))
    with pytest.raises(LocalStackError, match="lacks"):
        stack.start()
    assert stack.aws._server is None
