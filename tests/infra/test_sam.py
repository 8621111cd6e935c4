"""The SAM CLI on the deployable template, offline: `sam validate --lint` passes (and fails on a broken
template), and SAM resolves every function to its code, handler, runtime, architecture and built layers in
the cloud assembly - all that `sam local invoke` does before it needs Docker to start the function.

The SAM CLI lives in its own virtualenv (linked as .venv-sam by scripts/setup.sh with SB_SAM=1, which
scripts/test.sh sets, from requirements/sam.lock): it pins boto3 and click to other versions than
requirements.lock.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from infra.layer_spec import MANIFEST
from tests.infra.support import ROOT, Synth

SAM_VENV = Path(os.environ.get("SB_SAM_VENV") or ROOT / ".venv-sam")
SAM = SAM_VENV / "bin" / "sam"
pytestmark = pytest.mark.skipif(not SAM.exists(), reason=f"the SAM CLI is not installed at {SAM} (scripts/setup.sh "
                                "with SB_SAM=1 installs it from requirements/sam.lock)")
ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
FUNCTIONS = {"RouterFn": "router", "TierFn": "tier", "JudgeFn": "judge", "DecideFn": "decide", "ComposeFn": "compose",
             "RecordFn": "record"}


def _validate(template: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SAM), "validate", "--lint", "-t", str(template)], env=ENV, capture_output=True,
                          text=True, timeout=600)


def test_sam_validate_lint_passes_on_the_deployable_template(deployable: Synth) -> None:
    proc = _validate(deployable.template_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is a valid SAM Template" in proc.stdout


def test_sam_validate_lint_fails_on_a_broken_template(tmp_path: Path) -> None:
    broken = tmp_path / "broken.template.json"
    broken.write_text(json.dumps({"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {
        "Runtime": "python2.1", "Handler": "router.handler.lambda_handler", "Code": {"ZipFile": "x"},
        "Role": "arn:aws:iam::123456789012:role/r"}}}}))
    proc = _validate(broken)
    assert proc.returncode != 0 and "E3030" in proc.stdout + proc.stderr


def test_sam_resolves_every_function_to_its_code_and_built_layers(deployable: Synth) -> None:
    proc = subprocess.run([str(SAM_VENV / "bin" / "python"), str(ROOT / "tests" / "support" / "sam_probe.py"),
                           str(deployable.template_path)], env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    functions = json.loads(proc.stdout)
    for logical_id, name in FUNCTIONS.items():
        fn = functions[logical_id]
        assert fn["handler"] == f"{name}.handler.lambda_handler" and fn["runtime"] == "python3.12"
        assert fn["architectures"] == ["arm64"]
        assert (Path(fn["codeuri"]) / name / "handler.py").is_file()
        assert Path(fn["codeuri"]).parent == deployable.outdir  # the staged asset, not the source tree
        layers = [Path(layer["codeuri"]) for layer in fn["layers"]]
        assert layers and all((layer / "python").is_dir() and list(layer.glob(MANIFEST.format(name="*")))
                              for layer in layers)
        assert len(layers) == (2 if name in ("router", "decide") else 1)
    assert functions["RecordFn"]["environment"]["SB_TRACES_TABLE"] == "TracesTable"  # a Ref, as SAM resolves it
