"""The two Lambda layers: ``core`` (switchboard + pydantic, powertools, httpx, numpy) and ``encoder``
(onnxruntime, tokenizers and the MiniLM model files, for the router only).

Layers are built by ``bash layers/build.sh`` into ``build/layers/<name>/python/``, never during synth (a
synth must stay fast and offline). When a layer has not been built:
- with ``switchboard:requireBuiltLayers=true`` (do this for deployments) the synth fails and says how to
  build it;
- otherwise (tests, the local stack) the layer points at ``build/layers/<name>-unbuilt/python/README.txt``,
  so the template is complete and valid but obviously not deployable.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constructs.lambda_defaults import ARCHITECTURE, ASSET_EXCLUDES, RUNTIME

LAYER_NAMES = ("core", "encoder")
BUILD_COMMAND = "bash layers/build.sh"
UNBUILT_README = """\
This Switchboard Lambda layer ({name}) was NOT built.

The CDK app synthesised with this empty placeholder because switchboard:requireBuiltLayers is false
(the default, for tests and the local stack). A stack deployed from it will fail at cold start.
Build the layers and deploy with the check on:

    {command}
    cdk deploy -c switchboard:requireBuiltLayers=true
"""


class LayersNotBuilt(RuntimeError):
    pass


def layer_dir(root: Path, name: str, *, require_built: bool) -> Path:
    """The directory to package as layer ``name``: the built one, or an explicit 'unbuilt' stand-in."""
    built = root / "build" / "layers" / name
    if (built / "python").is_dir() and any((built / "python").iterdir()):
        return built
    if require_built:
        raise LayersNotBuilt(f"Lambda layer '{name}' is not built ({built / 'python'} is missing or empty). "
                             f"Run `{BUILD_COMMAND}` from the repository root, then synth again.")
    stand_in = root / "build" / "layers" / f"{name}-unbuilt"
    readme = stand_in / "python" / "README.txt"
    text = UNBUILT_README.format(name=name, command=BUILD_COMMAND)
    if not readme.exists() or readme.read_text(encoding="utf-8") != text:
        readme.parent.mkdir(parents=True, exist_ok=True)
        readme.write_text(text, encoding="utf-8")
    return stand_in


class SwitchboardLayers(Construct):
    """``core`` for every function, ``encoder`` added for the router."""

    def __init__(self, scope: Construct, construct_id: str, *, root: Path, require_built: bool) -> None:
        super().__init__(scope, construct_id)
        self.built: dict[str, bool] = {}
        layers: dict[str, lambda_.LayerVersion] = {}
        for name in LAYER_NAMES:
            directory = layer_dir(root, name, require_built=require_built)
            self.built[name] = not directory.name.endswith("-unbuilt")
            layers[name] = lambda_.LayerVersion(
                self, name.capitalize(),
                code=lambda_.Code.from_asset(str(directory), exclude=ASSET_EXCLUDES),
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[ARCHITECTURE],
                description=f"Switchboard {name} layer" + ("" if self.built[name] else " (NOT BUILT)"),
            )
        self.core = layers["core"]
        self.encoder = layers["encoder"]


# A layer's files land under /opt; the learned router's two files sit at its root.
LEARNED_ROUTER_MOUNT = "/opt"
LEARNED_ROUTER_FILES = ("router.onnx", "router.json", "verifier.onnx", "verifier.json")


def learned_router_layer(scope: Construct, construct_id: str, *, root: Path, directory: str) -> lambda_.LayerVersion:
    """A layer holding the ONNX models of a training run: the learned router (``router.onnx`` +
    ``router.json``) for the router function and the verifier (``verifier.onnx`` + ``verifier.json``) for
    the decide function. The run's dial is data: ``switchboard publish`` writes it to the Policy table.

    The directory is checked here, at synth time, with the same check the router runs at cold start, so a
    wrong path or a router trained on another encoder fails ``cdk synth`` rather than every request.
    """
    from infra.config import ConfigError
    from switchboard.adapters.learned import LearnedRouterUnavailable, check_router_artifacts

    path = Path(directory)
    path = path if path.is_absolute() else root / path
    try:
        check_router_artifacts(path)
    except LearnedRouterUnavailable as exc:
        raise ConfigError(f"switchboard:routerArtifacts: {exc}") from exc
    # Everything else a training run writes (taxonomy, dial, DynamoDB items) is published as data.
    only_router = ["*", *(f"!{name}" for name in LEARNED_ROUTER_FILES)]
    return lambda_.LayerVersion(
        scope, construct_id, code=lambda_.Code.from_asset(str(path), exclude=only_router),
        compatible_runtimes=[RUNTIME], compatible_architectures=[ARCHITECTURE],
        description="Switchboard routing models (router.onnx, verifier.onnx from switchboard train)")
