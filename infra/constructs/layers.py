"""The two Lambda layers: ``core`` (switchboard + pydantic, powertools, httpx, jsonschema, numpy; every
function) and ``encoder`` (onnxruntime, tokenizers and the MiniLM model; router and decide); and the
learned-router layer of a training run.

With ``switchboard:layers=build`` (the default) the synth builds each layer itself, through CDK's local
bundling: ``tryBundle`` runs ``infra.layer_build`` on this machine (pip and PyPI's wheels for the Lambda
platform; no Docker), which caches the result by a hash of the lock file, the layer's pins and the sources.
The asset's hash is that key, so a second synth into the same ``cdk.out`` does not even call the build, and
a synth into a fresh one links the cached files in. A layer that cannot be built fails the synth with
the cause and the fix (``LayerBuildError``). After bundling, each layer's measured sizes (its manifest) are
what the stack holds each function to Lambda's limits with.

``switchboard:layers=placeholder`` packages a stand-in that says it was not built instead: only tests and
the local stack (which run the handlers in-process) ask for it, and the synth warns that the template is
not deployable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, BundlingOutput, DockerImage, ILocalBundling, Stage
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constructs.lambda_defaults import ASSET_EXCLUDES, RUNTIME
from infra.layer_build import build_layer, layer_key, link_file, link_tree, measure
from infra.layer_spec import LAYERS, MANIFEST, Part

PLACEHOLDER_README = """\
This Switchboard Lambda layer ({name}) is a PLACEHOLDER: it was NOT built.

The CDK app was synthesised with -c switchboard:layers=placeholder, which tests and the local stack ask
for (they run the handlers in-process and never use the layers). A stack deployed from this template fails
at cold start. Synthesise with the default context (switchboard:layers=build) to deploy: the synth then
builds the layers itself.
"""
# CDK's bundling options need an image; it is never pulled, because the local build either succeeds or
# fails the synth (it never hands over to Docker).
UNUSED_IMAGE = "public.ecr.aws/sam/build-python3.12"


@jsii.implements(ILocalBundling)
class LocalLayerBuild:
    """CDK local bundling of one layer: build it (or take it from the cache) and link it into the asset."""

    def __init__(self, root: Path, name: str, architecture: str) -> None:
        self.root, self.name, self.architecture = root, name, architecture

    def try_bundle(self, output_dir: str, *_options: Any, **_keywords: Any) -> bool:
        built = build_layer(self.name, self.architecture, root=self.root)
        link_tree(built.path / "python", Path(output_dir) / "python")
        manifest = MANIFEST.format(name=self.name)
        link_file(built.path / manifest, Path(output_dir) / manifest)
        return True  # never False: that would hand the build over to Docker


def placeholder_dir(root: Path, name: str) -> Path:
    """A stand-in for layer ``name``: one README saying it is not built."""
    stand_in = root / "build" / "layers" / f"{name}-placeholder"
    readme = stand_in / "python" / "README.txt"
    text = PLACEHOLDER_README.format(name=name)
    if not readme.exists() or readme.read_text(encoding="utf-8") != text:
        readme.parent.mkdir(parents=True, exist_ok=True)
        readme.write_text(text, encoding="utf-8")
    return stand_in


class SwitchboardLayers(Construct):
    """``core`` for every function, ``encoder`` added for the router and decide."""

    def __init__(self, scope: Construct, construct_id: str, *, root: Path, build: bool,
                 architecture: lambda_.Architecture) -> None:
        super().__init__(scope, construct_id)
        self.built = build
        self._sizes: dict[str, Part] = {}
        layers: dict[str, lambda_.LayerVersion] = {}
        for name, spec in LAYERS.items():
            if build:
                code = lambda_.Code.from_asset(
                    str(root / "layers" / name), asset_hash=layer_key(root, spec, architecture.name),
                    asset_hash_type=AssetHashType.CUSTOM,
                    bundling=BundlingOptions(image=DockerImage.from_registry(UNUSED_IMAGE),
                                             local=LocalLayerBuild(root, name, architecture.name),
                                             output_type=BundlingOutput.NOT_ARCHIVED))
            else:
                code = lambda_.Code.from_asset(str(placeholder_dir(root, name)), exclude=ASSET_EXCLUDES)
            layers[name] = lambda_.LayerVersion(
                self, name.capitalize(), code=code, compatible_runtimes=[RUNTIME],
                compatible_architectures=[architecture],
                description=f"Switchboard {name} layer ({architecture.name}): {spec.description}"[:256]
                if build else f"Switchboard {name} layer (PLACEHOLDER, NOT BUILT)")
            manifest = staged_path(layers[name]) / MANIFEST.format(name=name)
            if build and manifest.is_file():  # not there when the stack skips bundling (cdk ls, destroy)
                sizes = json.loads(manifest.read_text(encoding="utf-8"))
                self._sizes[layers[name].node.path] = Part(name, sizes["unzipped_bytes"], sizes["zipped_bytes"])
        self.core = layers["core"]
        self.encoder = layers["encoder"]

    def size_of(self, layer: lambda_.ILayerVersion) -> Part | None:
        """A layer's measured sizes; None for a layer this construct did not build (or did not bundle)."""
        return self._sizes.get(layer.node.path)


def staged_path(layer: lambda_.LayerVersion) -> Path:
    """Where the layer's asset was staged (its bundle in the cloud assembly, or its source)."""
    asset = layer.node.find_child("Code")
    path = Path(asset.asset_path)  # type: ignore[attr-defined]
    return path if path.is_absolute() else Path(Stage.of(layer).outdir) / path  # type: ignore[union-attr]


# A layer's files land under /opt; the learned router's two files sit at its root.
LEARNED_ROUTER_MOUNT = "/opt"
LEARNED_ROUTER_FILES = ("router.onnx", "router.json", "verifier.onnx", "verifier.json")


def learned_router_layer(scope: Construct, construct_id: str, *, root: Path, directory: str,
                         architecture: lambda_.Architecture) -> tuple[lambda_.LayerVersion, Part]:
    """A layer holding the ONNX models of a training run, and its sizes: the learned router (``router.onnx``
    + ``router.json``) for the router function and the verifier (``verifier.onnx`` + ``verifier.json``) for
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
    layer = lambda_.LayerVersion(
        scope, construct_id, code=lambda_.Code.from_asset(str(path), exclude=only_router),
        compatible_runtimes=[RUNTIME], compatible_architectures=[architecture],
        description="Switchboard routing models (router.onnx, verifier.onnx from switchboard train)")
    sizes = measure(path, prefix=".", files=[path / name for name in LEARNED_ROUTER_FILES])
    return layer, Part("learned-router", sizes["unzipped_bytes"], sizes["zipped_bytes"])
