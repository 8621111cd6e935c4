"""A training run reaches the request path: `switchboard train` on recorded outcomes -> `switchboard publish`
into DynamoDB (moto) -> the router plans with the trained taxonomy and the learned router (real encoder).

The outcomes are synthetic but topical (code, arithmetic, history prompts), so the real MiniLM encoder
separates the categories, and a different model is best in each category.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from moto import mock_aws

from switchboard import cli
from switchboard.adapters.learned import OnnxLearnedRouter
from switchboard.adapters.stores.dynamo import DynamoTaxonomy
from switchboard.domain.requests import ChatRequest, Message
from switchboard.service.publish import PublishError, publish
from tests.support.builder import build_services
from tests.support.fakes import InMemoryCatalog, catalog_entry
from tests.support.topical_outcomes import train_run

pytest.importorskip("pandas")

# model -> (accuracy per topic, cost per call in USD): a different cheap model is good at each topic
MODELS = {
    "coder-small": ({"code": 0.9, "arithmetic": 0.3, "history": 0.3}, 0.0001),
    "math-small": ({"code": 0.3, "arithmetic": 0.9, "history": 0.3}, 0.0002),
    "generalist-big": ({"code": 0.85, "arithmetic": 0.85, "history": 0.85}, 0.01),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return train_run(tmp_path_factory.mktemp("trained"), MODELS)


@pytest.fixture
def dynamodb():
    with mock_aws():
        import boto3

        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="taxonomy", KeySchema=[{"AttributeName": "category", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "category", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        yield client


def _catalog() -> InMemoryCatalog:
    return InMemoryCatalog([catalog_entry(m, price=1e4 * price) for m, (_, price) in MODELS.items()])


def test_published_taxonomy_and_learned_router_drive_the_plan(trained: Path, dynamodb, capsys) -> None:
    # the command a user runs against a deployed stack, here against the emulated table
    assert cli.main(["publish", str(trained), "--taxonomy-table", "taxonomy", "--region", "us-east-1"]) == 0
    assert "published 3 categories" in capsys.readouterr().out

    from switchboard.adapters.encoder import get_encoder

    router = build_services(_catalog(), taxonomy=DynamoTaxonomy("taxonomy", client=dynamodb), encoder=get_encoder,
                            learned=OnnxLearnedRouter(trained)).planner
    trained_tiers = {c["name"]: c["tiers"] for c in json.loads((trained / "taxonomy.json").read_text())["categories"]}

    def plan(text: str):
        return router.plan(ChatRequest(messages=[Message(role="user", content=text)]))

    # unseen prompts of each topic land in their category and get the tiers training chose for it
    code = plan("Write a Python function that removes duplicates from a list of integers.")
    assert (code.route, code.category) == ("taxonomy", "code")
    assert [t.model for t in code.tiers] == trained_tiers["code"]
    assert code.tiers[0].model == "coder-small"  # the cheap model that is good at code goes first
    math = plan("What is 41 times 57? Compute the product and give only the number.")
    assert (math.route, math.category) == ("taxonomy", "arithmetic")
    assert math.tiers[0].model == "math-small"
    # a prompt far from every centroid is routed by the learned router's probabilities
    odd = plan("Compose a short haiku about autumn rain on a tin roof.")
    assert odd.route == "learned" and odd.similarity < 0.35
    predicted = router.sources.models().learned.predict(get_encoder().embed_one("Compose a short haiku about autumn rain on a tin roof."))
    assert odd.tiers[-1].model == max(predicted, key=predicted.get)


def test_republishing_removes_stale_categories(trained: Path, dynamodb, tmp_path: Path) -> None:
    store = DynamoTaxonomy("taxonomy", client=dynamodb, cache_s=0)
    first = publish(trained, taxonomy_store=store)
    assert first.categories == 3 and first.deleted_categories == []
    smaller = tmp_path / "run"
    smaller.mkdir()
    body = json.loads((trained / "taxonomy.json").read_text())
    body["categories"] = [c for c in body["categories"] if c["name"] != "history"]
    (smaller / "taxonomy.json").write_text(json.dumps(body))
    second = publish(smaller, taxonomy_store=store)
    assert second.deleted_categories == ["history"]
    assert sorted(c.name for c in store.categories()) == ["arithmetic", "code"]


def test_publish_refuses_before_writing_anything(trained: Path, dynamodb, tmp_path: Path) -> None:
    store = DynamoTaxonomy("taxonomy", client=dynamodb, cache_s=0)
    with pytest.raises(PublishError, match="not 8-dimensional"):
        publish(trained, taxonomy_store=store, embedding_dim=8)
    # the recorded-data catalogue that training writes cannot serve live traffic
    with pytest.raises(PublishError, match="cannot serve live traffic"):
        publish(trained, taxonomy_store=store, catalog_store=object(), catalog_path=trained / "catalog.json")
    with pytest.raises(PublishError, match="switchboard train"):
        publish(tmp_path, taxonomy_store=store)
    assert store.categories() == []


def test_publish_warns_about_models_the_catalogue_does_not_have(trained: Path, dynamodb) -> None:
    store = DynamoTaxonomy("taxonomy", client=dynamodb)
    only_big = InMemoryCatalog([catalog_entry("generalist-big")])
    report = publish(trained, taxonomy_store=store, current_catalog=only_big)
    assert any("'code'" in w and "coder-small" in w for w in report.warnings)
    assert any("learned router scores models the catalogue does not have" in w for w in report.warnings)


def test_publish_cli_reports_a_bad_directory_without_a_traceback(tmp_path: Path, dynamodb, capsys) -> None:
    status = cli.main(["publish", str(tmp_path / "missing"), "--taxonomy-table", "taxonomy",
                       "--region", "us-east-1"])
    assert status == 2
    assert "error:" in capsys.readouterr().err
