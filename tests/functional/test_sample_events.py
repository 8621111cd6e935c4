"""Every sample event under events/ through its handler, in-process, against the local stack's emulators
(moto: the template's tables, bucket and state machine), in the shape `sam local invoke -e` gives it: the
event file as it is; a context naming the function by its logical id with the template's memory; and the
function's environment from the template, each Ref resolved to a resource named by its logical id - what
SAM resolves a Ref to, and how the local stack names its tables. The one departure: the router polls the
execution (SB_ORCHESTRATION=poll), as moto has no StartSyncExecution.

events/<function>/ run on the default Bedrock catalogue, Bedrock simulated on loopback
(SimulatedBedrockRuntime, through the real Bedrock adapter); events/local/<function>/ on the local catalogue,
its models scripted. Each run also records which typed settings the handler read: never more than
FUNCTION_SETTINGS declares, which is what the deploy rehearsal holds the template's environment to.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from switchboard import composition
from switchboard.adapters.stores.dynamo_keys import DynamoKeys
from switchboard.local.emulator import LocalLambdaContext
from switchboard.local.provisioning import DATA_DIR, resources_of
from switchboard.local.stack import LocalStack, StackOptions
from switchboard.ports import ApiKey
from switchboard.service.api_keys import hash_key
from switchboard.service.settings import FUNCTION_SETTINGS
from tests.support.fakes import ScriptedProvider, ScriptedProviders
from tests.support.simulated_bedrock import ANSWER, SimulatedBedrockRuntime

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
_spec = importlib.util.spec_from_file_location("make_events", ROOT / "scripts" / "make_events.py")
assert _spec is not None and _spec.loader is not None
make_events = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_events)

DEPLOYED = sorted(str(p.relative_to(EVENTS).with_suffix("")) for p in EVENTS.glob("*/*.json") if p.parent.name != "local")
LOCAL = sorted(str(p.relative_to(EVENTS / "local").with_suffix("")) for p in (EVENTS / "local").glob("*/*.json"))
ROUTER_STATUS = {"chat_completion": 200, "chat_completion_budget": 402, "pinned_model": 200, "route": 200,
                 "list_models": 200, "health": 200, "malformed_json": 400, "missing_messages": 400,
                 "empty_user_message": 400, "unknown_model": 404, "no_key": 401, "get_trace": 404, "feedback": 404}


def _task_expectation(scenario: str, out: dict[str, Any], first_model: str) -> None:
    """What each task event must give, on either catalogue."""
    if scenario == "tier/first_tier":
        assert out["candidate"]["model"] == first_model and out["candidate"]["cost_usd"] > 0
        assert [j["kind"] for j in out["judges"]] == ["self_verify"] * 3 + ["llm_judge"]
    elif scenario.startswith("judge/"):
        assert out["score"] == 1.0 and not out["failed"], out
    elif scenario.startswith("decide/"):
        action = {"decide/confident": "accept", "decide/not_confident": "escalate", "decide/tier_failed": "escalate"}
        assert out["decision"]["action"] == action[scenario], out["decision"]
    elif scenario == "record/final_state":
        assert out == {"trace_id": "evt-0001", "stored": True}
    elif scenario == "compose/two_parts":  # both parts answered: one answer, in the parts' order
        assert out["decision"]["action"] == "accept" and out["decision"]["reason"] == "composed", out["decision"]
        text = out["decomposition"]["composed"]["text"]
        assert text.index("Part 1:") < text.index("Part 2:")
        assert out["spent_usd"] > sum(p["spent_usd"] for p in out["decomposition"]["parts"])  # + the decomposer
    else:
        raise AssertionError(f"no expectation for the sample event {scenario}: add one here")


class Invoker:
    """Invoke a handler of the local stack the way `sam local invoke` does."""

    def __init__(self, stack: LocalStack, providers: Any = None) -> None:
        self.stack, self.providers = stack, providers
        assert stack.template is not None
        self.functions = {r["Properties"]["Handler"].split(".")[0]: (lid, r["Properties"])
                          for lid, r in resources_of(stack.template, "AWS::Lambda::Function").items()
                          if r["Properties"].get("Handler", "").endswith(".lambda_handler")}
        self.read: list[str] = []

    def __call__(self, function: str, event: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
        logical_id, props = self.functions[function]
        variables = props.get("Environment", {}).get("Variables", {})
        for key, value in variables.items():  # the template's values, Refs resolved as SAM resolves them
            monkeypatch.setenv(key, self.stack.resources.resolve(value, self.stack.template or {}))
        if function == "router":
            monkeypatch.setenv("SB_ORCHESTRATION", "poll")  # moto has no StartSyncExecution
            monkeypatch.delenv("SB_STREAM_TOKENS", raising=False)  # the template sets no streaming
        for key, value in {"AWS_LAMBDA_FUNCTION_NAME": logical_id, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE":
                           str(props["MemorySize"]), "AWS_LAMBDA_FUNCTION_TIMEOUT": str(props["Timeout"])}.items():
            monkeypatch.setenv(key, value)
        composition.use(composition.Container(composition.Parts(providers=self.providers)))
        real = composition.Container.settings

        def recorded(container, kind):  # noqa: ANN001
            self.read.append(kind.__name__)
            return real(container, kind)

        monkeypatch.setattr(composition.Container, "settings", recorded)
        self.read = []
        handler = self.stack.dispatcher._handlers[logical_id]  # what the template names, imported
        return handler(json.loads(json.dumps(event)),
                       LocalLambdaContext(function_name=logical_id, memory_limit_in_mb=props["MemorySize"]))


def _stack(monkeypatch: pytest.MonkeyPatch, options: StackOptions) -> Iterator[LocalStack]:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "ERROR")
    stack = LocalStack(options).start()
    try:
        yield stack
    finally:
        stack.stop()
        composition.reset()


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))


def test_the_event_files_are_what_make_events_writes() -> None:
    assert make_events.main(["--check"]) == 0


def test_deployed_events_name_only_the_default_catalogues_models_and_local_ones_only_the_local_pool() -> None:
    def models(names: list[str], prefix: str = "") -> set[str]:
        found: set[str] = set()

        def walk(value: Any, key: str = "") -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(v, k)
            elif isinstance(value, list):
                for v in value:
                    walk(v, key)
            elif key == "model" and isinstance(value, str):
                found.add(value)
            elif key == "body" and isinstance(value, str):
                try:
                    walk(json.loads(value))
                except ValueError:
                    pass  # the malformed-JSON event's body

        for name in names:
            walk(load(prefix + name))
        return found - {"auto", "gpt-9-ultra"}  # the router's own and the unknown model's event

    bedrock = {e["model_id"] for e in json.loads((DATA_DIR / "catalog.bedrock.json").read_text())}
    local = {e["model_id"] for e in json.loads((DATA_DIR / "catalog.local.json").read_text())}
    assert models(DEPLOYED) and models(DEPLOYED) <= bedrock
    assert models(LOCAL, "local/") and models(LOCAL, "local/") <= local


class TestDeployedEvents:
    """events/<function>/<scenario>.json on the default Bedrock catalogue, keys required as deployed."""

    @pytest.fixture(scope="class")
    @classmethod
    def bedrock(cls) -> Iterator[SimulatedBedrockRuntime]:
        with SimulatedBedrockRuntime() as simulation:
            yield simulation

    @pytest.fixture(scope="class")
    @classmethod
    def stack(cls, bedrock: SimulatedBedrockRuntime) -> Iterator[LocalStack]:
        mp = pytest.MonkeyPatch()
        mp.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock.url)
        options = StackOptions(catalog_path=DATA_DIR / "catalog.bedrock.json", require_keys=True, deadline_s=24.0)
        try:
            for stack in _stack(mp, options):
                keys = DynamoKeys(stack.environment["SB_KEYS_TABLE"], client=stack.aws.client("dynamodb"))
                keys.create(ApiKey(key_id="key_sample", key_hash=hash_key(make_events.SAMPLE_KEY),
                                   name="sample events", budget_usd=1.0, available_usd=1.0))
                yield stack
        finally:
            mp.undo()

    @pytest.mark.parametrize("name", DEPLOYED)
    def test_sample_event(self, name: str, stack: LocalStack, bedrock: SimulatedBedrockRuntime,
                          monkeypatch: pytest.MonkeyPatch) -> None:
        function, scenario = name.split("/")
        invoke = Invoker(stack)
        calls_before = len(bedrock.calls)
        out = invoke(function, load(name), monkeypatch)
        assert set(invoke.read) <= {kind.__name__ for kind in FUNCTION_SETTINGS[function]}, invoke.read
        if function == "router":
            assert out["statusCode"] == ROUTER_STATUS[scenario], out["body"]
            body = json.loads(out["body"])
            if out["statusCode"] >= 400:
                assert set(body["error"]) >= {"message", "type", "param", "code"}
            if scenario == "chat_completion":
                assert body["choices"][0]["message"]["content"] == ANSWER
                assert "amazon.nova-micro-v1:0" in bedrock.calls[calls_before:]  # the catalogue's first tier
            if scenario == "list_models":
                assert {"nova-micro", "claude-3-haiku", "claude-3-5-sonnet"} <= {m["id"] for m in body["data"]}
        else:
            _task_expectation(name, out, first_model="nova-micro")
            if function in ("tier", "judge"):
                assert set(bedrock.calls[calls_before:]) <= {
                    "amazon.nova-micro-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"} and bedrock.calls[calls_before:]


class TestLocalEvents:
    """events/local/<function>/<scenario>.json on the local stack's own catalogue (its GGUF pool, scripted)."""

    @pytest.fixture(scope="class")
    @classmethod
    def scripted(cls) -> ScriptedProviders:
        def reply(messages: Any) -> str:
            return "VERDICT: CORRECT" if any("VERDICT" in str(m.content) for m in messages) else "4"

        local = [e["model_id"] for e in json.loads((DATA_DIR / "catalog.local.json").read_text())]
        return ScriptedProviders({model: ScriptedProvider(reply) for model in local})

    @pytest.fixture(scope="class")
    @classmethod
    def stack(cls, scripted: ScriptedProviders) -> Iterator[LocalStack]:
        mp = pytest.MonkeyPatch()
        try:
            yield from _stack(mp, StackOptions(providers=scripted))
        finally:
            mp.undo()

    @pytest.mark.parametrize("name", LOCAL)
    def test_local_sample_event(self, name: str, stack: LocalStack, scripted: ScriptedProviders,
                                monkeypatch: pytest.MonkeyPatch) -> None:
        function = name.split("/")[0]
        invoke = Invoker(stack, providers=scripted)
        out = invoke(function, load(f"local/{name}"), monkeypatch)
        assert set(invoke.read) <= {kind.__name__ for kind in FUNCTION_SETTINGS[function]}, invoke.read
        _task_expectation(name, out, first_model="qwen2.5-coder-0.5b")


def test_every_function_of_the_template_has_sample_events() -> None:
    functions = {name.split("/")[0] for name in DEPLOYED}
    assert functions == set(FUNCTION_SETTINGS) and set(ROUTER_STATUS) == {
        n.split("/")[1] for n in DEPLOYED if n.startswith("router/")}
    assert {name.split("/")[0] for name in LOCAL} == {"tier", "judge", "decide", "record", "compose"}


def test_the_deploy_guide_gives_the_sam_command_of_every_function_and_event_file() -> None:
    from infra import ids

    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    logical = {"router": ids.ROUTER_FN, "tier": ids.TIER_FN, "judge": ids.JUDGE_FN, "decide": ids.DECIDE_FN,
               "compose": ids.COMPOSE_FN, "record": ids.RECORD_FN}
    missing = [name for name in DEPLOYED if f"sam local invoke -t cdk.out/Switchboard.template.json "
               f"{logical[name.split('/')[0]]} -e events/{name}.json" not in guide]
    assert missing == []
