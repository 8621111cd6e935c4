"""One construct per capability: storage, layers, cascade, API, observability (and the Lambda defaults)."""
