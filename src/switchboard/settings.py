"""Names of the environment variables shared by the runtime and the infrastructure.

Infra writes these names into the Lambda configuration and the runtime reads them, so both import them
from here and they cannot drift. Dependency-free on purpose: infra imports this module.
"""

ENV_TRACES_TABLE = "SB_TRACES_TABLE"
ENV_CATALOG_TABLE = "SB_CATALOG_TABLE"
ENV_TAXONOMY_TABLE = "SB_TAXONOMY_TABLE"
ENV_STATE_MACHINE_ARN = "SB_STATE_MACHINE_ARN"
ENV_ORCHESTRATION = "SB_ORCHESTRATION"
ENV_TRACE_TTL_DAYS = "SB_TRACE_TTL_DAYS"
ENV_MODEL_DIR = "SWITCHBOARD_MODEL_DIR"
ENV_MAX_PROMPT_CHARS = "SB_MAX_PROMPT_CHARS"
# Directory holding the learned router (router.onnx + router.json from `switchboard train`); unset = no
# learned router (taxonomy and default tier order only). Infra sets it when a router layer is packaged.
ENV_ROUTER_ARTIFACTS = "SB_ROUTER_ARTIFACTS"
