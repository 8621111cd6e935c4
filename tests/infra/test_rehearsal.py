"""Every check of the deploy rehearsal fails on what it is there to catch (a copy of the deployable
assembly, changed), and the command prints one PASS/FAIL line per check and exits 1 when one fails."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infra.layer_spec import MANIFEST, MB
from infra.rehearsal import checks, run
from infra.rehearsal.assembly import Assembly
from tests.infra.support import Synth


def changed(deployable: Synth, tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Assembly:
    """The deployable assembly with its template changed (its assets linked, not copied)."""
    outdir = tmp_path / "cdk.out"
    outdir.mkdir()
    for asset in deployable.outdir.glob("asset.*"):
        (outdir / asset.name).symlink_to(asset)
    template = copy.deepcopy(deployable.template)
    change(template)
    (outdir / f"{deployable.stack_name}.template.json").write_text(json.dumps(template))
    return Assembly(outdir, deployable.stack_name)


def _role_policy(template: dict[str, Any], function: str) -> dict[str, Any]:
    role = template["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
    return next(r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
                and {"Ref": role} in r["Properties"]["Roles"])


def _grant(function: str, action: str, resource: Any) -> Callable[[dict[str, Any]], None]:
    def change(template: dict[str, Any]) -> None:
        statements = _role_policy(template, function)["Properties"]["PolicyDocument"]["Statement"]
        statements.append({"Effect": "Allow", "Action": action, "Resource": resource})
    return change


def _env(function: str, **variables: str | None) -> Callable[[dict[str, Any]], None]:
    def change(template: dict[str, Any]) -> None:
        env = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        for key, value in variables.items():
            env.pop(key, None) if value is None else env.__setitem__(key, value)
    return change


@pytest.mark.parametrize(("change", "check", "expected"), [
    (_grant("TierFn", "bedrock:*", "*"), checks.check_bedrock_scope, "TierFn: wildcard action bedrock:*"),
    (_grant("TierFn", "bedrock:InvokeModel", {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"},
                                                                 ":bedrock:*::foundation-model/anthropic.*"]]}),
     checks.check_bedrock_scope, "foundation-model/anthropic.* names no model"),
    (_grant("RecordFn", "bedrock:InvokeModel", "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0"),
     checks.check_bedrock_scope, "RecordFn may invoke Bedrock but calls no model"),
    (_grant("RecordFn", "*", "*"), checks.check_bedrock_scope, "RecordFn: wildcard action *"),
    (_grant("DecideFn", "secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:123456789012:secret:k"),
     checks.check_secret_readers, "DecideFn may read secrets but calls no model"),
    (_grant("TierFn", "secretsmanager:*", "*"), checks.check_secret_readers, "TierFn: secret * is a wildcard"),
    (_env("RecordFn", SB_TRACES_TABLE=None), checks.check_environment,
     "RecordFn needs SB_TRACES_TABLE, which the template does not set"),
    (_env("RouterFn", SB_TRACE_TTL_DAYZ="30"), checks.check_environment,
     "RouterFn: SB_TRACE_TTL_DAYZ is set but router never reads it"),
    (_env("RecordFn", SB_TRACE_TTL_DAYS="0"), checks.check_environment,
     "RecordFn: invalid or missing environment: SB_TRACE_TTL_DAYS"),
    (lambda t: t["Resources"]["RouterFn"]["Properties"].__setitem__(
        "Layers", t["Resources"]["RouterFn"]["Properties"]["Layers"][:1]),
     checks.check_imports, "RouterFn imports onnxruntime (from switchboard.adapters."),
    (lambda t: t["Resources"]["TierFn"]["Metadata"].pop("aws:asset:path"), checks.check_sam_metadata,
     "TierFn: no code asset in the assembly"),
    (lambda t: t["Resources"]["RecordFn"]["Properties"].__setitem__("MemorySize", 64), checks.check_cfn_lint,
     "E3034"),
    (lambda t: t["Resources"]["JudgeFn"]["Properties"].__setitem__("Architectures", ["x86_64"]),
     checks.check_layers_built, "JudgeFn runs on ['x86_64'] but layer core is built for arm64"),
])
def test_each_check_fails_on_what_it_is_there_to_catch(deployable: Synth, tmp_path: Path, change, check,
                                                       expected: str) -> None:
    # as deployed, every check passes (test_deployable_synth.py)
    result = check(changed(deployable, tmp_path, change))
    assert not result.ok and expected in result.detail, result.detail


def test_the_size_check_fails_on_a_layer_past_either_limit(deployable: Synth, tmp_path: Path) -> None:
    big = tmp_path / "big-layer"
    (big / "python").mkdir(parents=True)
    with open(big / "python" / "weights.bin", "wb") as sparse:  # 200 MB on paper, nothing on disk
        sparse.truncate(200 * MB)
    (big / MANIFEST.format(name="big")).write_text(json.dumps({"layer": "big", "zipped_bytes": 60 * MB}))

    def add_layer(template: dict[str, Any]) -> None:
        template["Resources"]["BigLayer"] = {"Type": "AWS::Lambda::LayerVersion", "Properties": {},
                                             "Metadata": {"aws:asset:path": str(big)}}
        template["Resources"]["RouterFn"]["Properties"]["Layers"].append({"Ref": "BigLayer"})

    result = checks.check_sizes(changed(deployable, tmp_path, add_layer))
    assert not result.ok
    assert "RouterFn: code and layers are 353." in result.detail
    assert "RouterFn: layer big is 60.0 MB zipped" in result.detail
    assert "DecideFn" not in result.detail


def test_placeholder_layers_fail_the_layer_check(synth: Synth) -> None:
    result = checks.check_layers_built(Assembly(synth.outdir, synth.stack_name))
    assert not result.ok and "is not a built layer (no manifest: a placeholder?)" in result.detail


def test_the_rehearsal_prints_one_line_per_check_and_fails_on_any(tmp_path: Path, capsys) -> None:
    code = run.main(["--outdir", str(tmp_path / "out"), "-c", 'switchboard:bedrockModelIds=["*"]'])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 1
    assert [line.split()[1] for line in lines] == ["synth", "cdk-nag", "layers", "sizes", "imports", "iam-bedrock",
                                                   "iam-secrets", "environment", "sam-assets", "cfn-lint",
                                                   "rehearsal"]
    assert all(line.startswith(("PASS  ", "FAIL  ")) for line in lines)
    assert [line.split()[1] for line in lines if line.startswith("FAIL")] == ["iam-bedrock", "rehearsal"]
    assert len(lines) == 2 + len(checks.CHECKS) + 1


def test_a_synth_that_fails_is_the_one_line_it_prints(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("SB_LAYER_PYTHON", os.devnull)
    monkeypatch.setenv("SB_LAYER_CACHE", str(tmp_path / "cache"))
    assert run.main(["--outdir", str(tmp_path / "out"), "-c", "switchboard:architecture=x86_64"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("FAIL  synth        ") and "cannot build the Lambda layers" in lines[0]
    assert lines[1].startswith("FAIL  rehearsal    1 of 1 checks failed: synth") and len(lines) == 2


def test_a_placeholder_synth_fails_the_synth_check_by_its_warning(synth: Synth) -> None:
    assert run._warnings(synth.outdir) == ["Annotation::switchboard:layers-not-built"]
