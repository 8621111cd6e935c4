"""``definition_from_template`` on hand-written templates: the shapes CDK emits, clear errors otherwise."""

from __future__ import annotations

import json

import pytest

from switchboard.local.definition import DefinitionError, definition_from_template

FN = {"Type": "AWS::Lambda::Function", "Properties": {}}


def _template(definition_string: object, **extra: object) -> dict:
    machine = {"Type": "AWS::StepFunctions::StateMachine",
               "Properties": {"DefinitionString": definition_string, **extra}}
    return {"Resources": {"Fn": FN, "Machine": machine}}


def test_join_with_get_att_becomes_placeholder_arn() -> None:
    template = _template({"Fn::Join": ["", ['{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"',
                                            {"Fn::GetAtt": ["Fn", "Arn"]}, '","End":true}}}']]})
    definition, functions = definition_from_template(template)
    assert definition["States"]["A"]["Resource"] == "arn:aws:lambda:us-east-1:000000000000:function:Fn"
    assert functions == {"arn:aws:lambda:us-east-1:000000000000:function:Fn": "Fn"}


def test_region_and_account_of_the_placeholder_can_be_chosen() -> None:
    template = _template({"Fn::Join": ["", ['{"R":"', {"Fn::GetAtt": "Fn.Arn"}, '"}']]})
    definition, _ = definition_from_template(template, region="eu-west-1", account="123456789012")
    assert definition == {"R": "arn:aws:lambda:eu-west-1:123456789012:function:Fn"}


def test_pseudo_parameters_and_substitutions_are_resolved() -> None:
    template = _template({"Fn::Join": ["", ['{"P":"', {"Ref": "AWS::Partition"}, '","F":"${f}"}']]},
                         DefinitionSubstitutions={"f": {"Fn::GetAtt": ["Fn", "Arn"]}})
    definition, functions = definition_from_template(template)
    assert definition["P"] == "aws"
    assert definition["F"].endswith(":function:Fn") and list(functions.values()) == ["Fn"]


def test_plain_string_definition_is_parsed_as_is() -> None:
    assert definition_from_template(_template(json.dumps({"StartAt": "X"})))[0] == {"StartAt": "X"}


def test_unsupported_intrinsic_is_reported_not_guessed() -> None:
    with pytest.raises(DefinitionError, match="Fn::ImportValue"):
        definition_from_template(_template({"Fn::Join": ["", [{"Fn::ImportValue": "x"}]]}))


def test_get_att_of_something_else_than_a_function_is_reported() -> None:
    template = _template({"Fn::Join": ["", [{"Fn::GetAtt": ["Fn", "Version"]}]]})
    with pytest.raises(DefinitionError, match="Fn.Version"):
        definition_from_template(template)


def test_template_without_exactly_one_machine_needs_a_logical_id() -> None:
    with pytest.raises(DefinitionError, match="expected one state machine"):
        definition_from_template({"Resources": {"Fn": FN}})
    two = _template('{"A":1}')
    two["Resources"]["Other"] = {"Type": "AWS::StepFunctions::StateMachine",
                                 "Properties": {"DefinitionString": '{"B":2}'}}
    with pytest.raises(DefinitionError):
        definition_from_template(two)
    assert definition_from_template(two, logical_id="Other")[0] == {"B": 2}
