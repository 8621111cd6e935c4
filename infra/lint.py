"""cfn-lint acknowledgements written into the template, so a plain `cfn-lint template.json` is clean.

The one rule acknowledged is W3005 ("dependency already enforced by GetAtt"): CDK makes a Lambda function
and a state machine DependsOn their role *construct* — the role and its DefaultPolicy — so that the
resource is not created before its permissions are attached. The entry for the role itself is redundant
with the GetAtt on its ARN, but the one for the policy is not, and overriding CDK's DependsOn would lose
that ordering. So the finding is acknowledged on those resources only (cfn-lint reads resource
Metadata ``cfn-lint.config.ignore_checks``) rather than switched off for the whole template.
"""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import IConstruct

REDUNDANT_ROLE_DEPENDENCY = "W3005"


def acknowledge(construct: IConstruct, *rules: str) -> None:
    """Make cfn-lint skip ``rules`` on the CloudFormation resource of ``construct``."""
    resource = construct.node.default_child if not isinstance(construct, CfnResource) else construct
    assert isinstance(resource, CfnResource), f"{construct.node.path} has no CloudFormation resource"
    resource.add_metadata("cfn-lint", {"config": {"ignore_checks": sorted(rules)}})
