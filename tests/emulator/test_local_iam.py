"""Local IAM: roles built from the template (SAM policy templates expanded), and IAM's evaluation rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailroom_cli.local.iam import function_policy, is_allowed
from mailroom_cli.local.provision import template_path
from mailroom_cli.local.template import Physical, SamTemplate, TemplateError

REGION, ACCOUNT = "eu-west-1", "123456789012"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/status"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k-1"


def _template(tmp_path: Path, policies: str) -> SamTemplate:
    path = tmp_path / "template.yaml"
    path.write_text(
        "Resources:\n"
        "  Machine:\n"
        "    Type: AWS::Serverless::StateMachine\n"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Policies:\n" + policies
    )
    template = SamTemplate(path, region=REGION, account_id=ACCOUNT, stack_name="s")
    template.physical["Machine"] = Physical("arn:sm", {"Name": "the-machine"})
    return template


def test_a_sam_step_functions_execution_policy_allows_start_execution_on_that_machine_only(tmp_path: Path) -> None:
    template = _template(
        tmp_path,
        "        - StepFunctionsExecutionPolicy:\n            StateMachineName: !GetAtt Machine.Name\n",
    )
    policy = function_policy(template, "Fn")
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:the-machine"
    assert policy["Statement"] == [{"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": machine}]
    assert is_allowed([policy], "states:StartExecution", machine)
    assert not is_allowed([policy], "states:StartExecution", machine + "-other")
    assert not is_allowed([policy], "states:StopExecution", machine)


def test_inline_statements_are_resolved_and_a_managed_logs_policy_adds_nothing(tmp_path: Path) -> None:
    template = _template(
        tmp_path,
        "        - AWSLambdaBasicExecutionRole\n"
        "        - Statement:\n"
        "            - Sid: Reads\n"
        "              Effect: Allow\n"
        "              Action: s3:GetObject\n"
        "              Resource: !Sub arn:${AWS::Partition}:s3:::bucket-${AWS::AccountId}/*\n",
    )
    statements = function_policy(template, "Fn")["Statement"]
    assert statements == [
        {"Sid": "Reads", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::bucket-{ACCOUNT}/*"}
    ]


@pytest.mark.parametrize(
    "policies",
    [
        "        - DynamoDBCrudPolicy:\n            TableName: t\n",
        "        - AmazonS3FullAccess\n",
        "        - Statement:\n            - Effect: Allow\n              Action: s3:GetObject\n"
        "              Resource: '*'\n              Condition:\n                StringEquals:\n"
        "                  aws:SourceVpce: vpce-1\n",
    ],
    ids=["unknown-sam-template", "managed-policy", "unevaluated-condition-key"],
)
def test_what_local_mode_cannot_evaluate_is_refused_at_start_not_ignored(tmp_path: Path, policies: str) -> None:
    with pytest.raises(TemplateError):
        function_policy(_template(tmp_path, policies), "Fn")


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_an_explicit_deny_wins_over_an_allow() -> None:
    policies = [
        _policy({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}),
        _policy({"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": TABLE}),
    ]
    assert is_allowed(policies, "dynamodb:PutItem", TABLE)
    assert not is_allowed(policies, "dynamodb:DeleteItem", TABLE)


def test_actions_match_case_insensitively_and_resources_by_wildcard() -> None:
    policy = _policy({"Effect": "Allow", "Action": "DynamoDB:Get*", "Resource": f"{TABLE}/index/*"})
    assert is_allowed([policy], "dynamodb:GetItem", f"{TABLE}/index/by-status")
    assert not is_allowed([policy], "dynamodb:GetItem", TABLE)


def test_a_kms_via_service_statement_does_not_allow_a_direct_kms_call() -> None:
    via_s3 = _policy(
        {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": KEY,
            "Condition": {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}},
        }
    )
    assert not is_allowed([via_s3], "kms:Decrypt", KEY, {})
    assert is_allowed([via_s3], "kms:Decrypt", KEY, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"})


def test_an_encryption_context_condition_is_checked_against_the_request() -> None:
    ses = _policy(
        {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": KEY,
            "Condition": {"StringEquals": {"kms:EncryptionContext:aws:ses:source-account": ACCOUNT}},
        }
    )
    assert is_allowed([ses], "kms:Decrypt", KEY, {"kms:EncryptionContext:aws:ses:source-account": ACCOUNT})
    assert not is_allowed([ses], "kms:Decrypt", KEY, {"kms:EncryptionContext:aws:ses:source-account": "999"})
    assert not is_allowed([ses], "kms:Decrypt", KEY, {})


def test_a_list_bucket_statement_limited_by_prefix_allows_only_that_prefix() -> None:
    listing = _policy(
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::incoming",
            "Condition": {"StringLike": {"s3:prefix": ["inbound/", "inbound/*"]}},
        }
    )
    assert is_allowed([listing], "s3:ListBucket", "arn:aws:s3:::incoming", {"s3:prefix": "inbound/abc"})
    assert not is_allowed([listing], "s3:ListBucket", "arn:aws:s3:::incoming", {"s3:prefix": "other/"})
    assert not is_allowed([listing], "s3:ListBucket", "arn:aws:s3:::incoming", {})


def test_every_function_of_the_shipped_template_gets_a_role_local_mode_can_evaluate() -> None:
    template = SamTemplate(
        template_path(),
        parameters={"Stage": "local", "RecipientDomain": "in.example.com"},
        region=REGION,
        account_id=ACCOUNT,
        stack_name="s",
    )
    for rid, resource in template.resources.items():
        kind = resource.get("Type", "")
        template.physical[rid] = Physical(f"{rid}-ref", {"Arn": f"arn:aws:x:{REGION}:{ACCOUNT}:{rid}", "Name": rid})
        assert kind  # every resource is typed
    functions = template.of_type("AWS::Serverless::Function")
    assert len(functions) >= 5
    for rid in functions:
        statements = function_policy(template, rid)["Statement"]
        assert statements, rid
        assert all(s["Effect"] in ("Allow", "Deny") for s in statements)
