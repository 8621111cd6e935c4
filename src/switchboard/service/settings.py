"""Typed settings of each function, read from the environment once at cold start.

Precedence is explicit argument > environment variable > default, written once here. A missing or bad
variable fails the cold start with a message naming the variable, not a KeyError deep in a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import ClassVar, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError

from switchboard import envvars as names


class SettingsError(RuntimeError):
    pass


class FunctionSettings(BaseModel):
    """Settings read from the environment: ``ENV`` maps each field to its variable."""

    ENV: ClassVar[dict[str, str]] = {}

    @classmethod
    def variables(cls) -> dict[str, bool]:
        """Every variable these settings read, and whether it is required (no default)."""
        return {var: cls.model_fields[field].is_required() for field, var in cls.ENV.items()}

    @classmethod
    def from_env(cls: type[S], env: Mapping[str, str] | None = None) -> S:
        env = os.environ if env is None else env
        values = {field: env[var] for field, var in cls.ENV.items() if var in env and env[var] != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            missing = ", ".join(cls.ENV[str(e["loc"][0])] for e in exc.errors() if e["loc"])
            raise SettingsError(f"invalid or missing environment: {missing}: {exc}") from exc


S = TypeVar("S", bound=FunctionSettings)


class RouterSettings(FunctionSettings):
    traces_table: str
    catalog_table: str
    taxonomy_table: str
    state_machine_arn: str
    policy_table: str | None = None
    keys_table: str | None = None
    require_keys: bool = False
    responses_table: str | None = None
    sessions_table: str | None = None
    router_artifacts: str | None = None
    artifact_bucket: str | None = None
    release_cache: str | None = None
    orchestration: Literal["sync", "poll"] = "sync"
    trace_ttl_days: int = Field(default=30, ge=1)
    max_prompt_chars: int = Field(default=32000, ge=1)
    request_deadline_s: float = Field(default=25.0, gt=0, le=900)
    job_deadline_s: float = Field(default=270.0, gt=0, le=3600)
    judge_policy: str | None = None
    stream_tokens: bool = False
    decomposition: bool = False
    decomposer_model: str | None = None
    slow_classifier: bool = False

    ENV: ClassVar[dict[str, str]] = {
        "traces_table": names.ENV_TRACES_TABLE, "catalog_table": names.ENV_CATALOG_TABLE,
        "taxonomy_table": names.ENV_TAXONOMY_TABLE, "state_machine_arn": names.ENV_STATE_MACHINE_ARN,
        "policy_table": names.ENV_POLICY_TABLE, "keys_table": names.ENV_KEYS_TABLE,
        "require_keys": names.ENV_REQUIRE_KEYS, "responses_table": names.ENV_RESPONSES_TABLE,
        "sessions_table": names.ENV_SESSIONS_TABLE, "router_artifacts": names.ENV_ROUTER_ARTIFACTS,
        "artifact_bucket": names.ENV_ARTIFACT_BUCKET, "release_cache": names.ENV_RELEASE_CACHE,
        "orchestration": names.ENV_ORCHESTRATION, "trace_ttl_days": names.ENV_TRACE_TTL_DAYS,
        "max_prompt_chars": names.ENV_MAX_PROMPT_CHARS, "request_deadline_s": names.ENV_REQUEST_DEADLINE_S,
        "job_deadline_s": names.ENV_JOB_DEADLINE_S, "judge_policy": names.ENV_JUDGE_POLICY,
        "stream_tokens": names.ENV_STREAM_TOKENS,
        "decomposition": names.ENV_DECOMPOSITION, "decomposer_model": names.ENV_DECOMPOSER_MODEL,
        "slow_classifier": names.ENV_SLOW_CLASSIFIER}


class ModelCallSettings(FunctionSettings):
    """Settings of the tier and judge functions."""

    catalog_table: str
    model_dir: str | None = None

    ENV: ClassVar[dict[str, str]] = {"catalog_table": names.ENV_CATALOG_TABLE, "model_dir": names.ENV_MODEL_DIR}


class ReleaseSettings(FunctionSettings):
    """Where the router and decide functions find a training run's models: packaged with the function
    (``router_artifacts``), or the release the Policy table's pointer names, in the artifact bucket."""

    router_artifacts: str | None = None
    policy_table: str | None = None
    artifact_bucket: str | None = None
    release_cache: str | None = None
    policy_ttl_s: float = Field(default=60.0, ge=0, le=3600)

    ENV: ClassVar[dict[str, str]] = {
        "router_artifacts": names.ENV_ROUTER_ARTIFACTS, "policy_table": names.ENV_POLICY_TABLE,
        "artifact_bucket": names.ENV_ARTIFACT_BUCKET, "release_cache": names.ENV_RELEASE_CACHE,
        "policy_ttl_s": names.ENV_POLICY_TTL_S}


class RecordSettings(FunctionSettings):
    traces_table: str
    trace_ttl_days: int = Field(default=30, ge=1)

    ENV: ClassVar[dict[str, str]] = {"traces_table": names.ENV_TRACES_TABLE,
                                     "trace_ttl_days": names.ENV_TRACE_TTL_DAYS}


# The settings each Lambda function reads (its handler's folder under functions/ -> settings). The deploy
# rehearsal holds every function's environment in the template to these (infra.rehearsal), and the
# sample-event tests check that running a handler reads no other (tests/functional/test_sample_events.py).
# The router reads the catalogue, the traces and the release like the task functions, with their settings.
FUNCTION_SETTINGS: dict[str, tuple[type[FunctionSettings], ...]] = {
    "router": (RouterSettings, ModelCallSettings, RecordSettings, ReleaseSettings),
    "tier": (ModelCallSettings,),
    "judge": (ModelCallSettings,),
    "decide": (ReleaseSettings,),
    "record": (RecordSettings,),
    "compose": (),
}
