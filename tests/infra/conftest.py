"""Infra tests: the CDK app is synthesised through ``app.build_app`` (the same entry as ``python app.py``,
with cdk-nag attached) once for the whole session; each module reads the template from that one synth."""

from __future__ import annotations

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # before jsii starts

import pytest  # noqa: E402

from tests.infra.support import PLACEHOLDER_LAYERS, Synth  # noqa: E402


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """One synthesis of the default configuration with placeholder layers (the template is the deployable
    one's but for the layers' contents). A cdk-nag finding raises here (the plugin fails the synth), so
    every test that uses this fixture also shows the app is nag-clean."""
    import app as cdk_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    the_app, stack = cdk_app.build_app(context={**PLACEHOLDER_LAYERS, "aws:cdk:disable-asset-staging": True},
                                       outdir=str(outdir))
    assembly = the_app.synth()
    artifact = assembly.get_stack_by_name(stack.stack_name)
    return Synth(template=artifact.template, template_path=outdir / artifact.template_file, outdir=outdir,
                 stack_name=stack.stack_name)


@pytest.fixture(scope="session")
def deployable(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The default context, exactly as `cdk synth` / `cdk deploy` synthesise it: the layers are built (from
    the cache in ~/.cache/switchboard/layers, else from PyPI once, ~20-60 s) and staged in the assembly."""
    import app as cdk_app

    outdir = tmp_path_factory.mktemp("deployable.cdk.out")
    the_app, stack = cdk_app.build_app(outdir=str(outdir))
    artifact = the_app.synth().get_stack_by_name(stack.stack_name)
    return Synth(template=artifact.template, template_path=outdir / artifact.template_file, outdir=outdir,
                 stack_name=stack.stack_name)
