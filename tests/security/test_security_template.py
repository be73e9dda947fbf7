"""Template security, over every resource of its type: least privilege, the CMK everywhere, TLS only.

Where ``tests/template/test_template.py`` checks the resources the code relies on by name, this suite
walks *every* statement, store and queue in ``template.yaml`` (and in its SAM translation, which
holds the roles SAM generates), so that a resource added later is held to the same rules. Every
exception is written down below with its reason. cfn-lint and checkov cleanliness is
``make template-check`` (``tools/infra_check.sh``; skipped checkov checks: docs/template-exceptions.md).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml
from security_helpers import Figures

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EXCEPTIONS_DOC = ROOT / "docs" / "template-exceptions.md"
SAM_PYTHON = ROOT / ".venv-tools" / "sam" / "bin" / "python"
CMK = {"Fn::GetAtt": ["MailroomKey", "Arn"]}
DATA_SERVICES = ("s3", "dynamodb", "kms", "sqs")
IDENTITY_HOLDERS = ("AWS::Serverless::Function", "AWS::Serverless::StateMachine")

# `Resource: "*"` in an identity policy, by (holder, Sid): each with its reason.
STAR_RESOURCES = {
    ("InboundEmailStateMachine", "DeliverExecutionLogs"): (
        "CloudWatch Logs' vended-log delivery APIs (CreateLogDelivery, ...) accept no resource ARN"
    ),
}
# SAM policy templates a function may use, and the parameter that scopes each to one resource.
SAM_POLICY_TEMPLATES = {"StepFunctionsExecutionPolicy": "StateMachineName", "LambdaInvokePolicy": "FunctionName"}
# Key policy statements allowed without a condition, by Sid.
UNCONDITIONED_KEY_STATEMENTS = {
    "AccountAdministersAndIamGrants": (
        "the account root: AWS's default key policy statement, which delegates the key's use to IAM policies"
    ),
}
# Managed policies SAM attaches to the roles it generates (they are not in template.yaml), with their reason.
MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": (
        None,
        "logs:CreateLogStream/PutLogEvents on *, for the function's own log group (which the template "
        "creates first, CMK-encrypted); CloudWatch Logs, not a data store",
    ),
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": (
        None,
        "xray:PutTraceSegments/PutTelemetryRecords/GetSampling* on *: X-Ray has no resource-level permissions",
    ),
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    template: dict[str, Any] = cfn_yaml.load(str(TEMPLATE))
    return template["Resources"]


def of_type(resources: dict[str, Any], *kinds: str) -> dict[str, dict[str, Any]]:
    return {rid: r.get("Properties", {}) for rid, r in resources.items() if r["Type"] in kinds}


def identity_statements(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every function's and the state machine's ``Policies`` (inline documents)."""
    for rid, spec in of_type(resources, *IDENTITY_HOLDERS).items():
        for policy in spec.get("Policies", []):
            if isinstance(policy, dict) and "Statement" in policy:
                for statement in policy["Statement"]:
                    yield rid, statement
    for rid, spec in of_type(resources, "AWS::IAM::Role").items():
        for policy in spec.get("Policies", []):
            for statement in as_list(policy["PolicyDocument"]["Statement"]):
                yield rid, statement
    for rid, spec in of_type(resources, "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy").items():
        for statement in as_list(spec["PolicyDocument"]["Statement"]):
            yield rid, statement


def check_statement(holder: str, statement: dict[str, Any]) -> None:
    """No wildcard action; no `*` resource for a data service; any other `*` resource written down."""
    sid = statement.get("Sid", "?")
    assert statement["Effect"] == "Allow", (holder, sid)
    actions = [str(a) for a in as_list(statement["Action"])]
    for action in actions:
        name = action.partition(":")[2]
        assert action != "*", (holder, sid)
        assert name != "*", (holder, sid, action)  # s3:*, dynamodb:*, kms:*, ...
    if "*" in as_list(statement["Resource"]):
        assert not [a for a in actions if a.split(":")[0] in DATA_SERVICES], (holder, sid)
        assert (holder, sid) in STAR_RESOURCES, (holder, sid, "a '*' resource nobody wrote down")


def test_no_identity_policy_grants_wildcard_actions_or_star_resources_on_data(
    resources: dict[str, Any], figures: Figures
) -> None:
    checked = 0
    for holder, statement in identity_statements(resources):
        check_statement(holder, statement)
        checked += 1
    assert checked > 30
    figures.record("template", "identity statements (template.yaml)", checked=checked, star_resources=1)


def test_sam_policy_templates_are_each_scoped_to_one_named_resource(resources: dict[str, Any]) -> None:
    holders = of_type(resources, *IDENTITY_HOLDERS)
    assert len(holders) >= 8  # the seven functions and the state machine
    templates = 0
    for rid, spec in holders.items():
        for policy in spec.get("Policies", []):
            assert not isinstance(policy, str), (rid, policy, "a managed policy in the template")
            if "Statement" in policy:
                continue
            ((name, parameters),) = policy.items()
            assert name in SAM_POLICY_TEMPLATES, (rid, name)
            assert parameters[SAM_POLICY_TEMPLATES[name]] not in ("*", "", None), (rid, name)
            templates += 1
    assert templates >= 4  # the state machine's LambdaInvokePolicy for each step at least


def test_resource_policies_allow_only_named_services_under_conditions(resources: dict[str, Any]) -> None:
    policies = of_type(resources, "AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy")
    documents = [(rid, spec["PolicyDocument"]) for rid, spec in policies.items()]
    documents += [(rid, spec["KeyPolicy"]) for rid, spec in of_type(resources, "AWS::KMS::Key").items()]
    assert {"IncomingBucketPolicy", "IncomingQueuePolicy", "MailroomKey"} <= {rid for rid, _ in documents}
    for rid, document in documents:
        for statement in as_list(document["Statement"]):
            if statement["Effect"] == "Deny":
                continue
            assert statement["Principal"] != "*", (rid, statement.get("Sid"))
            if statement.get("Sid") in UNCONDITIONED_KEY_STATEMENTS:
                assert statement["Principal"] == {
                    "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
                }
                continue
            assert "Service" in statement["Principal"], (rid, statement.get("Sid"))
            assert statement.get("Condition"), (rid, statement.get("Sid"), "a service allowed without a condition")


# --------------------------------------------------------------------------- encryption with the CMK


def test_every_bucket_is_encrypted_with_the_cmk_except_the_one_ses_encrypts_client_side(
    resources: dict[str, Any], figures: Figures
) -> None:
    buckets = of_type(resources, "AWS::S3::Bucket")
    assert {"IncomingBucket", "StagingBucket", "ArchiveBucket"} <= set(buckets)
    for rid, spec in buckets.items():
        (rule,) = spec["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        default = rule["ServerSideEncryptionByDefault"]
        if rid == "IncomingBucket":
            # Documented: SES writes only objects it encrypted client-side under the CMK (the receipt rule's key).
            assert default == {"SSEAlgorithm": "AES256"}
            assert "**Incoming bucket: SSE-S3, not SSE-KMS.**" in EXCEPTIONS_DOC.read_text()
            (action,) = resources["ReceiptRule"]["Properties"]["Rule"]["Actions"]
            assert action["S3Action"]["KmsKeyArn"] == CMK
            assert action["S3Action"]["BucketName"] == {"Ref": rid}
        else:
            assert default == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": CMK}, rid
            assert rule["BucketKeyEnabled"] is True, rid
    figures.record("template", "buckets", count=len(buckets), cmk=len(buckets) - 1, ses_client_side_cmk=1)


def test_every_table_queue_log_group_and_topic_is_encrypted_with_the_cmk(
    resources: dict[str, Any], figures: Figures
) -> None:
    tables = of_type(resources, "AWS::DynamoDB::Table")
    assert {"MailboxTable", "InboxTable", "StatusTable"} <= set(tables)
    for rid, spec in tables.items():
        assert spec["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": CMK}, rid
    queues = of_type(resources, "AWS::SQS::Queue")
    assert {"IncomingQueue", "IncomingDeadLetterQueue", "FunctionDeadLetterQueue"} <= set(queues)
    for rid, spec in queues.items():
        assert spec["KmsMasterKeyId"] == CMK, rid
    groups = of_type(resources, "AWS::Logs::LogGroup")
    assert len(groups) == len(of_type(resources, "AWS::Serverless::Function")) + 1  # one per function + the machine
    for rid, spec in groups.items():
        assert spec["KmsKeyId"] == CMK, rid
    topics = of_type(resources, "AWS::SNS::Topic")
    # The topics are the ones the template publishes to (TopicArn: the SES notification topic): none
    # before the Starter reads SES notifications, one after. Alarms notify a parameter's topic, not ours.
    assert set(topics) == topics_named_by_topic_arn(resources)
    for rid, spec in topics.items():
        assert spec["KmsMasterKeyId"] == CMK, rid
    assert props_of(resources, "MailroomKey")["EnableKeyRotation"] is True
    figures.record(
        "template",
        "tables, queues, log groups, topics",
        tables=len(tables),
        queues=len(queues),
        log_groups=len(groups),
        topics=len(topics),
    )


def topics_named_by_topic_arn(resources: dict[str, Any]) -> set[str]:
    """Resources a ``TopicArn`` anywhere in the template refers to (``Ref`` or ``Fn::GetAtt``)."""
    found: set[str] = set()

    def walk(value: Any, under_topic_arn: bool) -> None:
        if isinstance(value, dict):
            target = value.get("Ref") or (value.get("Fn::GetAtt") or [None])[0]
            if under_topic_arn and isinstance(target, str) and target in resources:
                found.add(target)
            for key, inner in value.items():
                walk(inner, under_topic_arn or key == "TopicArn")
        elif isinstance(value, list):
            for inner in value:
                walk(inner, under_topic_arn)

    walk(resources, False)
    return found


def props_of(resources: dict[str, Any], rid: str) -> dict[str, Any]:
    spec: dict[str, Any] = resources[rid]["Properties"]
    return spec


def test_every_function_and_the_state_machine_log_only_to_a_cmk_group_that_exists_first(
    resources: dict[str, Any],
) -> None:
    groups = of_type(resources, "AWS::Logs::LogGroup")
    names = {json.dumps(spec["LogGroupName"], sort_keys=True): rid for rid, spec in groups.items()}
    functions = of_type(resources, "AWS::Serverless::Function")
    assert len(functions) >= 7  # Starter, the four steps, Recorder, Watchdog
    for rid, spec in functions.items():
        own = {"Fn::Sub": "/aws/lambda/" + spec["FunctionName"]["Fn::Sub"]}
        group = names[json.dumps(own, sort_keys=True)]
        assert resources[rid]["DependsOn"] == group, rid  # Lambda would otherwise create it, unencrypted
    machine = props_of(resources, "InboundEmailStateMachine")["Logging"]
    (destination,) = machine["Destinations"]
    assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0] in groups
    assert machine["IncludeExecutionData"] is False


# --------------------------------------------------------------------------- TLS


def test_every_bucket_and_queue_refuses_requests_without_tls(resources: dict[str, Any], figures: Figures) -> None:
    def denies_plain_http(statements: list[dict[str, Any]], action: str, targets: list[Any]) -> bool:
        plain_http = {"Bool": {"aws:SecureTransport": "false"}}
        return any(
            s["Effect"] == "Deny"
            and s["Principal"] == "*"
            and s["Action"] == action
            and s["Condition"] == plain_http
            and all(t in as_list(s["Resource"]) for t in targets)
            for s in statements
        )

    bucket_policies = of_type(resources, "AWS::S3::BucketPolicy")
    assert len(of_type(resources, "AWS::S3::Bucket")) >= 3
    assert len(of_type(resources, "AWS::SQS::Queue")) >= 3
    for rid, spec in of_type(resources, "AWS::S3::Bucket").items():
        name = spec["BucketName"]["Fn::Sub"]
        arn = f"arn:${{AWS::Partition}}:s3:::{name}"
        (policy,) = [p for p in bucket_policies.values() if p["Bucket"] == {"Ref": rid}]
        targets = [{"Fn::Sub": arn}, {"Fn::Sub": arn + "/*"}]
        assert denies_plain_http(policy["PolicyDocument"]["Statement"], "s3:*", targets), rid
    queue_policies = of_type(resources, "AWS::SQS::QueuePolicy")
    for rid in of_type(resources, "AWS::SQS::Queue"):
        covering = [p for p in queue_policies.values() if {"Ref": rid} in p["Queues"]]
        assert covering, (rid, "no queue policy")
        target = {"Fn::GetAtt": [rid, "Arn"]}
        assert any(denies_plain_http(p["PolicyDocument"]["Statement"], "sqs:*", [target]) for p in covering), rid
    assert props_of(resources, "ReceiptRule")["Rule"]["TlsPolicy"] == "Require"
    figures.record(
        "template",
        "TLS",
        buckets_denying_plain_http=len(of_type(resources, "AWS::S3::Bucket")),
        queues_denying_plain_http=len(of_type(resources, "AWS::SQS::Queue")),
        ses_tls_policy="Require",
    )


# --------------------------------------------------------------------------- what SAM generates


@pytest.fixture(scope="module")
def translated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """template.yaml translated by aws-sam-translator, offline (the SAM tool venv of ``make tools``)."""
    if not SAM_PYTHON.exists():
        pytest.skip(f"{SAM_PYTHON.relative_to(ROOT)} is missing: `make tools` installs aws-sam-translator")
    out = tmp_path_factory.mktemp("sam") / "translated.json"
    subprocess.run(
        [str(SAM_PYTHON), str(ROOT / "tools" / "sam_translate.py"), str(TEMPLATE), str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def test_generated_roles_hold_no_wildcards_and_only_the_written_down_managed_policies(
    translated: dict[str, Any], figures: Figures
) -> None:
    resources = translated["Resources"]
    checked = 0
    for role, statement in identity_statements(resources):
        check_statement(role.removesuffix("Role"), statement)  # SAM names a function's role <function>Role
        checked += 1
    assert checked > 30
    attached: dict[str, set[str]] = {}
    assert len(of_type(resources, "AWS::IAM::Role")) >= 8  # one per function and the state machine
    for rid, spec in of_type(resources, "AWS::IAM::Role").items():
        for arn in spec.get("ManagedPolicyArns", []):
            attached.setdefault(arn if isinstance(arn, str) else json.dumps(arn), set()).add(rid)
    assert set(attached) <= set(MANAGED_POLICIES), set(attached) - set(MANAGED_POLICIES)
    assert attached  # SAM attaches its basic execution role to every function
    for arn, roles in attached.items():
        allowed_roles = MANAGED_POLICIES[arn][0]
        assert allowed_roles is None or roles <= allowed_roles, (arn, roles)
    figures.record(
        "template",
        "SAM-generated roles (translated)",
        roles=len(of_type(resources, "AWS::IAM::Role")),
        statements_checked=checked,
        managed_policies={arn.rsplit("/", 1)[-1]: len(roles) for arn, roles in attached.items()},
    )


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"},
        {"Effect": "Allow", "Action": ["kms:Decrypt", "*"], "Resource": "arn:aws:kms:eu-west-1:1:key/k"},
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"},
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": ["arn:aws:sqs:eu-west-1:1:q", "*"]},
        {"Sid": "NotWrittenDown", "Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"},
    ],
)
def test_the_statement_check_refuses_each_kind_of_wildcard(statement: dict[str, Any]) -> None:
    with pytest.raises(AssertionError):
        check_statement("SomeFunction", statement)
