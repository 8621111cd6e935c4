"""The local stack synthesises the app with placeholder layers (it runs the handlers in-process and never
uses them), once per version of the infra sources."""

from __future__ import annotations

import json
from pathlib import Path

from switchboard.local import stack


def test_the_local_stack_asks_for_placeholder_layers_and_caches_the_template(tmp_path, monkeypatch) -> None:
    calls: list[dict] = []

    def fake_synth(command, cwd, env, **kwargs):  # noqa: ANN001, ANN003 - subprocess.run's signature
        calls.append(json.loads(env["CDK_CONTEXT_JSON"]))
        (Path(env["CDK_OUTDIR"]) / "Switchboard.template.json").write_text('{"Resources": {}}')

        class Done:
            returncode, stderr = 0, ""
        return Done()

    monkeypatch.setattr(stack.subprocess, "run", fake_synth)
    assert stack.synth_template(cache_dir=tmp_path) == {"Resources": {}}
    assert stack.synth_template(cache_dir=tmp_path) == {"Resources": {}}  # from the cache
    assert calls == [{"switchboard:layers": "placeholder"}]
