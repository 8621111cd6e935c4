#!/bin/sh
# The router function's start command under the Lambda Web Adapter (switchboard:streaming): the adapter
# runs this, waits for the server's readiness path, then forwards every invocation to it as HTTP.
cd "${LAMBDA_TASK_ROOT:-$(dirname "$0")/..}" || exit 1
exec python3 -m router.serve
