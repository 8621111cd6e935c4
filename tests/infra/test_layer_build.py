"""The synth builds its layers (infra.layer_build through local bundling), reuses them from the cache, and
fails - naming the cause and the fix - on a missing pip, a lock that disagrees with a layer, or a layer
over Lambda's limits. No test here downloads anything: the cache is seeded or the failure comes first."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import app as cdk_app
from infra import layer_build
from infra.constructs import layers as layer_constructs
from infra.layer_spec import LAYERS, MANIFEST, MB, parse_pins
from switchboard.envvars import ENV_LAYER_CACHE, ENV_LAYER_PYTHON
from tests.infra.support import ROOT


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "layer-cache"
    monkeypatch.setenv(ENV_LAYER_CACHE, str(path))
    return path


def seed(cache: Path, name: str, *, unzipped: int, zipped: int, root: Path = ROOT) -> Path:
    """A built layer in the cache, as infra.layer_build leaves it, with the sizes given."""
    spec = LAYERS[name]
    key = layer_build.layer_key(root, spec, "arm64")
    directory = cache / (f"{name}-arm64-{key}" if spec.with_package else f"{name}-deps-arm64-{key}")
    (directory / "python").mkdir(parents=True)
    (directory / "python" / "stand_in.py").write_text("# seeded by the test\n")
    manifest = {"layer": name, "architecture": "arm64", "key": key, "python": "3.12", "packages": {},
                "files": 1, "unzipped_bytes": unzipped, "zipped_bytes": zipped}
    (directory / MANIFEST.format(name=name)).write_text(json.dumps(manifest))
    return directory


def no_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError(f"the build ran a command although its layer was cached: {args[0]}")

    monkeypatch.setattr(layer_build.subprocess, "run", refuse)


def test_a_cached_layer_is_linked_into_the_assembly_without_running_pip(cache, tmp_path, monkeypatch) -> None:
    seed(cache, "core", unzipped=60 * MB, zipped=20 * MB)
    seed(cache, "encoder", unzipped=90 * MB, zipped=40 * MB)
    no_pip(monkeypatch)
    the_app, stack = cdk_app.build_app(outdir=str(tmp_path / "out"))
    template = the_app.synth().get_stack_by_name(stack.stack_name).template
    layers = [lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::LayerVersion"]
    staged = [tmp_path / "out" / template["Resources"][lid]["Metadata"]["aws:asset:path"] for lid in layers]
    assert sorted((path / "python" / "stand_in.py").read_text() for path in staged) == ["# seeded by the test\n"] * 2
    assert stack.layers.size_of(stack.layers.encoder).zipped == 40 * MB  # type: ignore[union-attr]


def test_a_second_synth_into_the_same_assembly_does_not_build_again(cache, tmp_path, monkeypatch) -> None:
    seed(cache, "core", unzipped=60 * MB, zipped=20 * MB)
    seed(cache, "encoder", unzipped=90 * MB, zipped=40 * MB)
    calls: list[str] = []
    real = layer_constructs.build_layer

    def counted(name, architecture, **kwargs):  # noqa: ANN001, ANN003
        calls.append(name)
        return real(name, architecture, **kwargs)

    monkeypatch.setattr(layer_constructs, "build_layer", counted)
    for _ in range(2):
        the_app, _stack = cdk_app.build_app(outdir=str(tmp_path / "out"))
        the_app.synth()
    assert calls == ["core", "encoder"]  # the second synth found both assets staged under their key


def test_a_layer_too_large_for_lambda_fails_the_synth_naming_the_functions_sizes_and_fix(cache, tmp_path,
                                                                                         monkeypatch) -> None:
    seed(cache, "core", unzipped=70 * MB, zipped=20 * MB)
    seed(cache, "encoder", unzipped=200 * MB, zipped=60 * MB)
    no_pip(monkeypatch)
    with pytest.raises(Exception) as failure:
        cdk_app.build_app(outdir=str(tmp_path / "out"))
    message = str(failure.value)
    assert "RouterFn: code and layers are 270.0 MB unzipped" in message
    assert "DecideFn: layer encoder is 60.0 MB zipped; Lambda takes at most 50 MB" in message
    assert "TierFn" not in message and "Fix:" in message


def _checkout(tmp_path: Path) -> Path:
    """What the CDK app reads of a checkout, copied: to be changed by a test."""
    root = tmp_path / "checkout"
    for name in ("cdk.json", "requirements.lock"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, root / name)
    for directory in ("functions", "layers", "src/switchboard"):
        shutil.copytree(ROOT / directory, root / directory, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_a_lock_that_disagrees_with_a_layer_fails_the_synth_before_any_download(cache, tmp_path,
                                                                                monkeypatch) -> None:
    root = _checkout(tmp_path)
    version = parse_pins((root / "layers/core/requirements.txt").read_text(), "core")["pydantic"]
    lock = root / "requirements.lock"
    lock.write_text(lock.read_text().replace(f"pydantic=={version}", "pydantic==2.0.0"))
    no_pip(monkeypatch)
    with pytest.raises(Exception, match=rf"pins pydantic=={version} but requirements\.lock has pydantic==2\.0\.0"
                                        r"[\s\S]*Fix:[\s\S]*bash scripts/lock\.sh"):
        cdk_app.build_app(outdir=str(tmp_path / "out"), root=root)


def test_a_python_without_pip_fails_the_synth_saying_what_to_install(cache, tmp_path, monkeypatch) -> None:
    venv = tmp_path / "no-pip"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    monkeypatch.setenv(ENV_LAYER_PYTHON, str(venv / "bin" / "python"))
    with pytest.raises(Exception, match=r"pip is not available to .*no-pip/bin/python[\s\S]*Fix: install pip "
                                        r"\(python3 -m ensurepip --upgrade, or apt-get install python3-pip\)"):
        cdk_app.build_app(outdir=str(tmp_path / "out"))


def test_a_build_without_python_fails_saying_so(cache, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_LAYER_PYTHON, str(tmp_path / "nowhere" / "python3"))
    with pytest.raises(layer_build.LayerBuildError, match=r"cannot run .*Fix: install Python 3 with pip"):
        layer_build.build_layer("encoder", "arm64")


def test_an_unknown_layer_or_architecture_is_refused(cache) -> None:
    with pytest.raises(layer_build.LayerBuildError, match="unknown layer 'gpu' or architecture"):
        layer_build.build_layer("gpu", "arm64")
    with pytest.raises(layer_build.LayerBuildError, match="architectures \\['arm64', 'x86_64'\\]"):
        layer_build.build_layer("core", "riscv64")


def test_the_layer_key_follows_the_lock_the_pins_and_for_core_the_package_sources(tmp_path) -> None:
    root = _checkout(tmp_path)
    core, encoder = LAYERS["core"], LAYERS["encoder"]
    before = {n: layer_build.layer_key(root, s, "arm64") for n, s in (("core", core), ("encoder", encoder))}
    assert layer_build.layer_key(root, core, "x86_64") != before["core"]
    (root / "src/switchboard/domain/decision.py").write_text("# changed\n", encoding="utf-8")
    assert layer_build.layer_key(root, core, "arm64") != before["core"]
    assert layer_build.layer_key(root, encoder, "arm64") == before["encoder"]  # no package in it
    (root / "requirements.lock").write_text((root / "requirements.lock").read_text() + "# changed\n")
    assert layer_build.layer_key(root, encoder, "arm64") != before["encoder"]
