"""cdk-nag (3.x) acknowledgements, one finding at a time, each with the reason it is acceptable here.

cdk-nag runs as a CDK policy-validation plugin (app.py) and any unacknowledged finding fails the synth.
cdk-nag 3 reads CDK's native ``Validations.of(construct).acknowledge(...)``; an acknowledgement on a
construct covers the resources below it. Wildcard findings are acknowledged one by one as
``Rule[Finding]`` (e.g. ``AwsSolutions-IAM5[Resource::*]``), so a new wildcard added later is still
reported instead of being swallowed by an earlier acknowledgement.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule: str, reason: str, *, findings: Sequence[str] = ()) -> None:
    """Acknowledge ``rule`` on ``construct`` and everything below it; only the listed ``findings`` of it
    when given (the text cdk-nag prints between brackets)."""
    ids = [f"{rule}[{finding}]" for finding in findings] if findings else [rule]
    Validations.of(construct).acknowledge(*[Acknowledgment(id=i, reason=reason) for i in ids])


# Reasons shared by several resources, written once.
LAMBDA_BASIC_EXECUTION = (
    "AWSLambdaBasicExecutionRole only grants logs:CreateLogGroup/CreateLogStream/PutLogEvents, which every "
    "function needs; an inline copy would add nothing but maintenance.")
LAMBDA_BASIC_EXECUTION_POLICY = ("Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                                 "AWSLambdaBasicExecutionRole")
XRAY_WILDCARD = ("X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions; "
                 "Resource '*' is the only valid value (added by tracing: ACTIVE).")
PYTHON_RUNTIME = (
    "Pinned to python3.12 on purpose: the Lambda layers are built from cp312 manylinux wheels "
    "(infra/layer_build.py) and onnxruntime needs the AL2023-based runtime; moving to a newer runtime means "
    "rebuilding and re-testing the layers, done deliberately rather than by a synth-time rule.")
