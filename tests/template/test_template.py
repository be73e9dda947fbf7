"""template.yaml keeps the contract the code, the ASL, the CLI and the operator rely on (offline, no AWS)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cfnlint.api
import pytest
from cfnlint.decode import cfn_yaml
from mailroom import settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EXCEPTIONS_DOC = ROOT / "docs" / "template-exceptions.md"

EU_REGIONS = {
    *("eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2"),
    *("eu-north-1", "eu-south-1", "eu-south-2"),
}
# cfn-lint findings accepted on template.yaml, as (rule id, resource); none today.
ALLOWED_CFN_LINT_WARNINGS: set[tuple[str, str]] = set()

FUNCTIONS = {
    "StarterFunction": ("mailroom.handlers.start.handler", settings.StarterSettings),
    "DecryptFunction": ("mailroom.handlers.decrypt.handler", settings.DecryptSettings),
    "ParseFunction": ("mailroom.handlers.parse.handler", settings.ParseSettings),
    "ArchiveFunction": ("mailroom.handlers.archive.handler", settings.ArchiveSettings),
    "InboxFunction": ("mailroom.handlers.inbox.handler", settings.InboxSettings),
    "RecorderFunction": ("mailroom.handlers.record.handler", settings.RecorderSettings),
    "WatchdogFunction": ("mailroom.handlers.watchdog.handler", settings.WatchdogSettings),
}
STEPS = {"DecryptFunction", "ParseFunction", "ArchiveFunction", "InboxFunction"}
BUCKETS = {"IncomingBucket": "incoming", "StagingBucket": "staging", "ArchiveBucket": "archive"}
TABLES = {"MailboxTable", "InboxTable", "StatusTable"}
TOPIC_ARN = "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:mailroom-${Stage}-incoming"
CMK = {"Fn::GetAtt": ["MailroomKey", "Arn"]}
OUTPUTS = {
    "StateMachineArn",
    "IncomingBucketName",
    "IncomingPrefix",
    "StagingBucketName",
    "ArchiveBucketName",
    "IncomingQueueUrl",
    "DeadLetterQueueUrl",
    "MailboxTableName",
    "InboxTableName",
    "StatusTableName",
    "KmsKeyArn",
    "ReceiptRuleSetName",
    "ReceiptRuleName",
    "RecipientDomain",
}
RULE_NAME = "mailroom-${Stage}-store"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(TEMPLATE))


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def props(resources: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return resources[logical_id]["Properties"]


def function(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """A function's properties with Globals.Function applied (environment variables merged, as SAM does)."""
    merged = {**template["Globals"]["Function"], **props(template["Resources"], logical_id)}
    merged["Environment"] = {
        "Variables": {
            **template["Globals"]["Function"]["Environment"]["Variables"],
            **props(template["Resources"], logical_id).get("Environment", {}).get("Variables", {}),
        }
    }
    return merged


def of_type(resources: dict[str, Any], kind: str) -> list[str]:
    return [rid for rid, res in resources.items() if res["Type"] == kind]


def statements(policies: list[Any]) -> list[dict[str, Any]]:
    """Inline statements of a SAM ``Policies`` list (policy templates and managed names skipped)."""
    return [s for p in policies if isinstance(p, dict) and "Statement" in p for s in p["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def bucket_arn(bucket: str) -> str:
    return f"arn:${{AWS::Partition}}:s3:::mailroom-${{Stage}}-{BUCKETS[bucket]}-${{AWS::AccountId}}-${{AWS::Region}}"


# ---------------------------------------------------------------------- functions


def test_the_functions_are_exactly_the_contracts_logical_ids(resources: dict[str, Any]) -> None:
    assert set(of_type(resources, "AWS::Serverless::Function")) == set(FUNCTIONS)


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_function_runs_python313_on_arm64_from_lambdas_with_active_tracing(
    template: dict[str, Any], logical_id: str
) -> None:
    fn = function(template, logical_id)
    assert fn["Runtime"] == "python3.13"
    assert fn["Architectures"] == ["arm64"]
    assert fn["CodeUri"] == "lambdas/"
    assert fn["Tracing"] == "Active"
    assert fn["LoggingConfig"]["LogFormat"] == "JSON"
    env = fn["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "mailroom"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Mailroom"
    assert env["STAGE"] == {"Ref": "Stage"}


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_handler_names_a_module_file_under_lambdas(template: dict[str, Any], logical_id: str) -> None:
    fn = function(template, logical_id)
    handler = fn["Handler"]
    assert handler == FUNCTIONS[logical_id][0]
    module, _, attribute = handler.rpartition(".")
    assert attribute == "handler"
    assert (ROOT / fn["CodeUri"] / (module.replace(".", "/") + ".py")).is_file()


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_function_gets_exactly_the_variables_its_settings_read(template: dict[str, Any], logical_id: str) -> None:
    own = props(template["Resources"], logical_id)["Environment"]["Variables"]
    expected = set(FUNCTIONS[logical_id][1].variables())
    assert set(own) == expected


def test_the_starter_reads_the_queue_in_batches_with_partial_failures(resources: dict[str, Any]) -> None:
    starter = props(resources, "StarterFunction")
    assert "Events" not in starter  # a SAM SQS event would attach a managed role with sqs actions on "*"
    mapping = props(resources, "StarterEventSource")
    assert mapping["FunctionName"] == {"Ref": "StarterFunction"}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["IncomingQueue", "Arn"]}
    assert mapping["BatchSize"] == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == 5
    assert starter["Environment"]["Variables"]["INCOMING_PREFIX"] == "inbound/"
    (read,) = [st for st in statements(starter["Policies"]) if st["Sid"] == "ReadIncomingQueue"]
    assert set(read["Action"]) == {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
    assert read["Resource"] == {"Fn::GetAtt": ["IncomingQueue", "Arn"]}


def test_the_queue_hides_a_message_for_six_starter_timeouts_plus_the_batching_window(resources: dict[str, Any]) -> None:
    starter = props(resources, "StarterFunction")
    window = props(resources, "StarterEventSource")["MaximumBatchingWindowInSeconds"]
    assert props(resources, "IncomingQueue")["VisibilityTimeout"] >= 6 * starter["Timeout"] + window


def test_failed_notifications_go_to_an_encrypted_dead_letter_queue_kept_14_days(resources: dict[str, Any]) -> None:
    queue, dlq = props(resources, "IncomingQueue"), props(resources, "IncomingDeadLetterQueue")
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["IncomingDeadLetterQueue", "Arn"]}
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["KmsMasterKeyId"] == CMK
    assert dlq["KmsMasterKeyId"] == CMK


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_function_logs_to_its_own_encrypted_group_that_exists_before_it(
    resources: dict[str, Any], logical_id: str
) -> None:
    log_group_id = resources[logical_id]["DependsOn"]
    group = props(resources, log_group_id)
    name = props(resources, logical_id)["FunctionName"]["Fn::Sub"]
    assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/{name}"}
    assert group["KmsKeyId"] == CMK
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_no_function_or_state_machine_grants_wildcard_actions_or_resources(resources: dict[str, Any]) -> None:
    holders = of_type(resources, "AWS::Serverless::Function") + of_type(resources, "AWS::Serverless::StateMachine")
    assert len(holders) >= 8  # seven functions and the state machine
    checked = 0
    for rid in holders:
        for statement in statements(props(resources, rid)["Policies"]):
            checked += 1
            assert statement["Effect"] == "Allow", (rid, statement)
            for action in as_list(statement["Action"]):
                assert "*" not in action, (rid, action)
            if statement["Sid"] != "DeliverExecutionLogs":  # vended-logs APIs take no resource ARN
                assert "*" not in as_list(statement["Resource"]), (rid, statement["Sid"])
    assert checked > 20


def test_every_function_that_reads_a_bucket_may_list_it_so_a_missing_key_is_404_not_403(
    resources: dict[str, Any],
) -> None:
    # S3 answers 403 for a missing key to a caller without s3:ListBucket on the bucket (S3 GetObject docs):
    # an expired object would then be retried as AccessDenied instead of quarantined as missing.
    readers = 0
    for rid in of_type(resources, "AWS::Serverless::Function"):
        granted = statements(props(resources, rid).get("Policies", []))
        read = {
            resource["Fn::Sub"].split("/", 1)[0]
            for st in granted
            if "s3:GetObject" in as_list(st["Action"])
            for resource in as_list(st["Resource"])
        }
        listed = {
            resource["Fn::Sub"]
            for st in granted
            if "s3:ListBucket" in as_list(st["Action"])
            for resource in as_list(st["Resource"])
        }
        readers += bool(read)
        assert read <= listed, (rid, read - listed)
    assert readers == 4  # Decrypt, Parse, Archive, Inbox


# ---------------------------------------------------------------------- region, SES, key


def test_a_rule_refuses_every_region_outside_the_eu(template: dict[str, Any]) -> None:
    (assertion,) = [a for rule in template["Rules"].values() for a in rule["Assertions"]]
    regions, region = assertion["Assert"]["Fn::Contains"]
    assert set(regions) == EU_REGIONS
    assert region == {"Ref": "AWS::Region"}
    assert "EU" in assertion["AssertDescription"]


def test_the_receipt_rule_scans_requires_tls_and_stores_encrypted_under_inbound(resources: dict[str, Any]) -> None:
    rule = resources["ReceiptRule"]
    assert set(rule["DependsOn"]) == {"IncomingBucketPolicy", "IncomingTopicPolicy", "IncomingTopicSubscription"}
    spec = rule["Properties"]["Rule"]
    assert spec["Name"] == {"Fn::Sub": RULE_NAME}
    assert spec["ScanEnabled"] is True
    assert spec["TlsPolicy"] == "Require"
    assert spec["Recipients"] == [{"Ref": "RecipientDomain"}]
    (action,) = spec["Actions"]
    assert action["S3Action"] == {
        "BucketName": {"Ref": "IncomingBucket"},
        "ObjectKeyPrefix": "inbound/",
        "KmsKeyArn": CMK,
        "TopicArn": {"Ref": "IncomingTopic"},
    }


def test_ses_may_write_and_encrypt_only_for_this_rule(resources: dict[str, Any]) -> None:
    bucket_policy = props(resources, "IncomingBucketPolicy")["PolicyDocument"]["Statement"]
    (ses_put,) = [s for s in bucket_policy if s.get("Principal") == {"Service": "ses.amazonaws.com"}]
    source_arn = ses_put["Condition"]["ArnLike"]["AWS:SourceArn"]["Fn::Sub"]
    text, variables = source_arn
    assert text.endswith(f":receipt-rule-set/${{RuleSet}}:receipt-rule/{RULE_NAME}")
    # This stage's own set, or the existing (active) one it was told to join (one active set per region).
    assert variables == {
        "RuleSet": {
            "Fn::If": ["CreatesReceiptRuleSet", {"Fn::Sub": "mailroom-${Stage}"}, {"Ref": "ExistingReceiptRuleSet"}]
        }
    }
    assert ses_put["Resource"] == {"Fn::Sub": bucket_arn("IncomingBucket") + "/inbound/*"}
    key_policy = props(resources, "MailroomKey")["KeyPolicy"]["Statement"]
    ses_statements = [s for s in key_policy if s["Principal"] == {"Service": "ses.amazonaws.com"}]
    assert len(ses_statements) == 2  # encrypting mail, publishing to the encrypted topic
    for statement in ses_statements:
        # Against confused deputies (SES's permissions page): our account, our rule.
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
        assert statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"] == source_arn
    (ses_key,) = [s for s in ses_statements if "kms:Encrypt" in s["Action"]]
    context = ses_key["Condition"]["StringEquals"]
    assert context["kms:EncryptionContext:aws:ses:rule-name"] == {"Fn::Sub": RULE_NAME}
    assert context["kms:EncryptionContext:aws:ses:source-account"] == {"Ref": "AWS::AccountId"}
    (ses_topic,) = [s for s in ses_statements if "kms:Encrypt" not in s["Action"]]
    assert set(ses_topic["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}
    assert ses_topic["Condition"]["StringEquals"]["kms:EncryptionContext:aws:sns:topicArn"] == {"Fn::Sub": TOPIC_ARN}
    topic_policy = props(resources, "IncomingTopicPolicy")["PolicyDocument"]["Statement"]
    (publish,) = [s for s in topic_policy if s["Effect"] == "Allow"]
    assert publish["Principal"] == {"Service": "ses.amazonaws.com"}
    assert publish["Action"] == "SNS:Publish"
    assert publish["Condition"]["StringEquals"]["AWS:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert publish["Condition"]["ArnLike"]["AWS:SourceArn"]["Fn::Sub"] == source_arn


def test_the_key_rotates_and_lets_only_our_topic_deliver_to_the_encrypted_queue(resources: dict[str, Any]) -> None:
    key = props(resources, "MailroomKey")
    assert key["EnableKeyRotation"] is True
    statements = key["KeyPolicy"]["Statement"]
    assert not [s for s in statements if s["Principal"] == {"Service": "s3.amazonaws.com"}]  # S3 notifies nothing
    (sns,) = [s for s in statements if s["Principal"] == {"Service": "sns.amazonaws.com"}]
    assert set(sns["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}
    assert sns["Condition"]["ArnLike"]["aws:SourceArn"] == {"Fn::Sub": TOPIC_ARN}
    assert sns["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert props(resources, "MailroomKeyAlias")["AliasName"] == {"Fn::Sub": "alias/mailroom-${Stage}"}


# ---------------------------------------------------------------------- buckets, queue, tables


@pytest.mark.parametrize("bucket", sorted(BUCKETS))
def test_every_bucket_blocks_public_access_and_refuses_plain_http(resources: dict[str, Any], bucket: str) -> None:
    spec = props(resources, bucket)
    assert spec["BucketName"] == {"Fn::Sub": bucket_arn(bucket).removeprefix("arn:${AWS::Partition}:s3:::")}
    assert all(spec["PublicAccessBlockConfiguration"].values())
    assert len(spec["PublicAccessBlockConfiguration"]) == 4
    assert spec["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (policy,) = [
        props(resources, rid)
        for rid in of_type(resources, "AWS::S3::BucketPolicy")
        if props(resources, rid)["Bucket"] == {"Ref": bucket}
    ]
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [{"Fn::Sub": bucket_arn(bucket)}, {"Fn::Sub": bucket_arn(bucket) + "/*"}]


@pytest.mark.parametrize("bucket", ["StagingBucket", "ArchiveBucket"])
def test_buckets_holding_plaintext_use_the_cmk_with_a_bucket_key(resources: dict[str, Any], bucket: str) -> None:
    (rule,) = props(resources, bucket)["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": CMK}
    assert rule["BucketKeyEnabled"] is True


def test_ses_notifications_reach_the_queue_through_the_encrypted_topic_and_s3_notifies_nothing(
    resources: dict[str, Any],
) -> None:
    incoming = resources["IncomingBucket"]
    assert "NotificationConfiguration" not in incoming["Properties"]  # one event per email: SES's
    assert "DependsOn" not in incoming
    topic = props(resources, "IncomingTopic")
    assert topic["TopicName"] == {"Fn::Sub": "mailroom-${Stage}-incoming"}
    assert topic["KmsMasterKeyId"] == CMK
    subscription = resources["IncomingTopicSubscription"]
    assert subscription["DependsOn"] == "IncomingQueuePolicy"
    spec = subscription["Properties"]
    assert spec["TopicArn"] == {"Ref": "IncomingTopic"}
    assert (spec["Protocol"], spec["Endpoint"]) == ("sqs", {"Fn::GetAtt": ["IncomingQueue", "Arn"]})
    assert spec["RawMessageDelivery"] is True
    assert spec["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["IncomingDeadLetterQueue", "Arn"]}}
    queue_policy = props(resources, "IncomingQueuePolicy")["PolicyDocument"]["Statement"]
    (allow,) = [s for s in queue_policy if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "sns.amazonaws.com"}
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": "IncomingTopic"}}}
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in s["Condition"]["Bool"] for s in queue_policy)


def test_incoming_mail_outlives_the_redrive_window_so_replay_can_restart(template: dict[str, Any]) -> None:
    incoming = template["Parameters"]["IncomingRetentionDays"]
    assert incoming["MinValue"] > 14
    assert incoming["Default"] > 14
    (rule,) = props(template["Resources"], "IncomingBucket")["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "IncomingRetentionDays"}


def test_the_archive_is_versioned_and_locks_objects_when_asked(resources: dict[str, Any]) -> None:
    archive = props(resources, "ArchiveBucket")
    assert archive["VersioningConfiguration"] == {"Status": "Enabled"}
    condition, lock, absent = archive["ObjectLockConfiguration"]["Fn::If"]
    assert condition == "ArchiveObjectLockEnabled"
    assert lock["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": {"Ref": "ArchiveRetentionDays"}}
    assert absent == {"Ref": "AWS::NoValue"}
    assert resources["ArchiveBucket"]["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_table_uses_the_cmk_with_point_in_time_recovery(resources: dict[str, Any], table: str) -> None:
    spec = props(resources, table)
    assert spec["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": CMK}
    assert spec["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert spec["BillingMode"] == "PAY_PER_REQUEST"
    assert resources[table]["DeletionPolicy"] == "Retain"


def test_table_keys_and_the_status_index_are_the_ones_the_adapters_use(resources: dict[str, Any]) -> None:
    def keys(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
        return [(k["AttributeName"], k["KeyType"]) for k in schema]

    assert keys(props(resources, "MailboxTable")["KeySchema"]) == [("address", "HASH")]
    assert keys(props(resources, "InboxTable")["KeySchema"]) == [("user", "HASH"), ("message_id", "RANGE")]
    status = props(resources, "StatusTable")
    assert keys(status["KeySchema"]) == [("message_id", "HASH")]
    (index,) = status["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by-status"
    assert keys(index["KeySchema"]) == [("status", "HASH"), ("updated_at", "RANGE")]
    assert index["Projection"] == {"ProjectionType": "ALL"}


# ---------------------------------------------------------------------- state machine


def test_the_state_machine_is_standard_traced_and_logs_errors_without_execution_data(
    resources: dict[str, Any],
) -> None:
    machine = props(resources, "InboundEmailStateMachine")
    assert machine["Type"] == "STANDARD"
    assert machine["DefinitionUri"] == "statemachine/inbound_email.asl.json"
    assert machine["Tracing"] == {"Enabled": True}
    assert machine["Logging"]["Level"] == "ERROR"
    assert machine["Logging"]["IncludeExecutionData"] is False
    assert set(machine["DefinitionSubstitutions"]) == {
        "DecryptFunctionArn",
        "ParseFunctionArn",
        "ArchiveFunctionArn",
        "InboxFunctionArn",
        "StatusTableName",
    }
    invoked = {p["LambdaInvokePolicy"]["FunctionName"]["Ref"] for p in machine["Policies"] if "LambdaInvokePolicy" in p}
    assert invoked == STEPS


def test_every_placeholder_in_the_asl_has_a_substitution(resources: dict[str, Any]) -> None:
    machine = props(resources, "InboundEmailStateMachine")
    asl = ROOT / machine["DefinitionUri"]
    if not asl.is_file():
        pytest.skip(f"{asl.relative_to(ROOT)} is not written yet")
    placeholders = set(re.findall(r"\$\{([^}]+)\}", asl.read_text()))
    json.loads(asl.read_text())
    assert placeholders
    assert placeholders <= set(machine["DefinitionSubstitutions"])


# ---------------------------------------------------------------------- parameters, outputs, linters


def test_parameters_and_defaults_are_the_contract(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params["Stage"]["Default"] == "dev"
    assert params["Stage"]["AllowedPattern"] == "^[a-z0-9-]+$"
    assert params["ArchiveRetentionDays"]["Type"] == "Number"
    assert params["ArchiveRetentionDays"]["Default"] == 3650
    assert params["ArchiveObjectLock"]["Default"] == "Disabled"
    assert params["StagingRetentionDays"]["Default"] == 7
    assert params["IncomingRetentionDays"]["Default"] == 30
    assert params["AlarmTopicArn"]["Default"] == ""
    assert params["LogRetentionDays"]["Default"] == 30
    assert "RecipientDomain" in params


def test_the_outputs_the_cli_reads_exist(template: dict[str, Any]) -> None:
    assert set(template["Outputs"]) >= OUTPUTS
    assert template["Outputs"]["IncomingPrefix"]["Value"] == "inbound/"
    assert template["Outputs"]["ReceiptRuleName"]["Value"] == {"Fn::Sub": RULE_NAME}


def test_every_skipped_checkov_check_has_a_comment_and_a_documented_reason(resources: dict[str, Any]) -> None:
    doc = EXCEPTIONS_DOC.read_text()
    skipped = [
        (rid, skip)
        for rid, res in resources.items()
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skipped
    for rid, skip in skipped:
        assert skip.get("comment"), (rid, skip["id"])
        rows = [line for line in doc.splitlines() if re.match(rf"\|\s*{skip['id']}\b", line)]
        assert len(rows) == 1, f"docs/template-exceptions.md must have one row for {skip['id']}"
        applies_to, reason = rows[0].split("|")[2:4]
        assert re.search(rf"\b{rid}\b|all functions", applies_to), f"the {skip['id']} row does not name {rid}"
        assert len(reason.split()) >= 10, f"the {skip['id']} row gives no real reason"


def test_cfn_lint_reports_no_error_and_no_unlisted_warning() -> None:
    matches = cfnlint.api.lint(TEMPLATE.read_text(), regions=["eu-west-1"])  # all three: make template-check
    found = {(m.rule.id, m.path[1] if len(m.path) > 1 else "") for m in matches}
    assert not [m for m in matches if m.rule.id.startswith("E")], [str(m) for m in matches]
    assert found <= ALLOWED_CFN_LINT_WARNINGS, [str(m) for m in matches]


def test_the_shipped_requirements_bring_no_tracing_sdk() -> None:
    # The X-Ray SDKs are in maintenance mode (support ends 2027-02-25); `Tracing: Active` gives the
    # service segments without them. Powertools' [tracer] extra is what would bring aws-xray-sdk back.
    requirements = (Path(__file__).resolve().parents[2] / "lambdas" / "requirements.txt").read_text()
    lines = [line.split("#")[0].strip().lower() for line in requirements.splitlines()]
    assert not [line for line in lines if "[tracer]" in line or line.startswith("aws-xray-sdk")]
    assert any(line.startswith("aws-lambda-powertools") for line in lines)
