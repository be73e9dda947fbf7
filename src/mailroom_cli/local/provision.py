"""Create the template's resources in the local emulation (moto over HTTP), in dependency order.

Everything comes from ``template.yaml``: names, keys, queues and their redrive policies, tables and
their indexes, buckets and their notifications, functions (handler, environment, event sources) and
the state machine (definition file + substitutions). Resource types moto does not need to run the
pipeline (IAM, logs, alarms, policies) get placeholder ids so references to them still resolve;
each function's role is built from its ``Policies`` and enforced afterwards by ``local/iam.py``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailroom_cli.local.runtime import FunctionSpec
from mailroom_cli.local.template import Physical, SamTemplate, TemplateError

log = logging.getLogger(__name__)

LOCAL_ROLE = "mailroom-local-execution"
_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@dataclass(frozen=True)
class EventSource:
    """An SQS event source mapping of a function (what the local poller emulates)."""

    function: str
    queue_url: str
    queue_arn: str
    batch_size: int
    batching_window_seconds: int
    report_batch_item_failures: bool
    maximum_concurrency: int


@dataclass(frozen=True)
class StatusChangeRule:
    """An EventBridge rule sending Step Functions status changes to a function (emulated locally)."""

    function: str
    statuses: frozenset[str]
    state_machine_arns: frozenset[str]


@dataclass
class Provisioned:
    """What was created: functions, event sources, and the template's Outputs resolved."""

    functions: list[FunctionSpec] = field(default_factory=list)
    event_sources: list[EventSource] = field(default_factory=list)
    status_rules: list[StatusChangeRule] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


class Provisioner:
    """Creates each supported resource type with the matching moto API, from resolved properties."""

    def __init__(self, template: SamTemplate, client: Callable[[str], Any]) -> None:
        self.t = template
        self.client = client
        self.result = Provisioned()
        self._role_arn = ""
        self._creators: dict[str, Callable[[str], Physical]] = {
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::SQS::Queue": self._queue,
            "AWS::SNS::Topic": self._topic,
            "AWS::SNS::Subscription": self._subscription,
            "AWS::DynamoDB::Table": self._table,
            "AWS::S3::Bucket": self._bucket,
            "AWS::Serverless::Function": self._function,
            "AWS::Lambda::EventSourceMapping": self._event_source_mapping,
            "AWS::Serverless::StateMachine": self._state_machine,
            "AWS::SES::ReceiptRuleSet": self._rule_set,
            "AWS::SES::ReceiptRule": self._rule,
        }

    def run(self) -> Provisioned:
        """Create everything, then resolve the Outputs."""
        self._role_arn = self._local_role()
        supported = self.t.of_type(*self._creators)
        for rid, resource in self.t.resources.items():
            if rid not in supported:
                self.t.physical[rid] = _placeholder(self.t, rid, resource.get("Type", ""))
        pending_notifications: list[str] = []
        for rid in self.t.creation_order(supported):
            kind = self.t.resources[rid]["Type"]
            self.t.physical[rid] = self._creators[kind](rid)
            if kind == "AWS::S3::Bucket":
                pending_notifications.append(rid)
        for rid in pending_notifications:
            self._bucket_notifications(rid)
        for name, output in self.t.data.get("Outputs", {}).items():
            if "Condition" in output and not self.t.condition(output["Condition"]):
                continue
            self.result.outputs[name] = str(self.t.resolve(output["Value"]))
        return self.result

    # ------------------------------------------------------------------ helpers

    def _prop(self, rid: str, name: str, default: Any = None) -> Any:
        raw = self.t.resources[rid].get("Properties", {}).get(name)
        if raw is None:
            return default
        try:
            return self.t.resolve(raw)
        except TemplateError as exc:
            raise TemplateError(f"{rid}.{name}: {exc}") from exc

    def _name(self, rid: str, prop: str) -> str:
        return str(self._prop(rid, prop) or f"{self.t.pseudo['AWS::StackName']}-{rid}")

    def _local_role(self) -> str:
        iam = self.client("iam")
        try:
            return str(iam.get_role(RoleName=LOCAL_ROLE)["Role"]["Arn"])
        except iam.exceptions.NoSuchEntityException:
            return str(iam.create_role(RoleName=LOCAL_ROLE, AssumeRolePolicyDocument=json.dumps(_TRUST))["Role"]["Arn"])

    # ------------------------------------------------------------------ creators

    def _kms_key(self, rid: str) -> Physical:
        kms = self.client("kms")
        meta = kms.create_key(Description=str(self._prop(rid, "Description", rid)))["KeyMetadata"]
        if self._prop(rid, "EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=meta["KeyId"])
        return Physical(meta["KeyId"], {"Arn": meta["Arn"], "KeyId": meta["KeyId"]})

    def _kms_alias(self, rid: str) -> Physical:
        name = str(self._prop(rid, "AliasName"))
        target = str(self._prop(rid, "TargetKeyId"))
        self.client("kms").create_alias(AliasName=name, TargetKeyId=target)
        return Physical(name)

    def _queue(self, rid: str) -> Physical:
        sqs = self.client("sqs")
        name = self._name(rid, "QueueName")
        attributes: dict[str, str] = {}
        for prop in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
            value = self._prop(rid, prop)
            if value is not None:
                attributes[prop] = str(value)
        redrive = self._prop(rid, "RedrivePolicy")
        if redrive:
            attributes["RedrivePolicy"] = json.dumps(redrive)
        key = self._prop(rid, "KmsMasterKeyId")
        if key:
            attributes["KmsMasterKeyId"] = str(key)
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return Physical(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})

    def _topic(self, rid: str) -> Physical:
        name = self._name(rid, "TopicName")
        attributes = {"KmsMasterKeyId": str(key)} if (key := self._prop(rid, "KmsMasterKeyId")) else {}
        arn = self.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        return Physical(arn, {"TopicArn": arn, "TopicName": name})

    def _subscription(self, rid: str) -> Physical:
        attributes: dict[str, str] = {}
        if self._prop(rid, "RawMessageDelivery") is not None:
            attributes["RawMessageDelivery"] = str(bool(self._prop(rid, "RawMessageDelivery"))).lower()
        if redrive := self._prop(rid, "RedrivePolicy"):
            attributes["RedrivePolicy"] = json.dumps(redrive)
        arn = self.client("sns").subscribe(
            TopicArn=str(self._prop(rid, "TopicArn")),
            Protocol=str(self._prop(rid, "Protocol")),
            Endpoint=str(self._prop(rid, "Endpoint")),
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return Physical(arn)

    def _table(self, rid: str) -> Physical:
        ddb = self.client("dynamodb")
        name = self._name(rid, "TableName")
        args: dict[str, Any] = {
            "TableName": name,
            "KeySchema": self._prop(rid, "KeySchema"),
            "AttributeDefinitions": self._prop(rid, "AttributeDefinitions"),
            "BillingMode": self._prop(rid, "BillingMode", "PAY_PER_REQUEST"),
        }
        indexes = self._prop(rid, "GlobalSecondaryIndexes")
        if indexes:
            args["GlobalSecondaryIndexes"] = indexes
        sse = self._prop(rid, "SSESpecification")
        if sse:
            args["SSESpecification"] = {
                "Enabled": bool(sse.get("SSEEnabled", True)),
                "SSEType": sse.get("SSEType", "KMS"),
                **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if sse.get("KMSMasterKeyId") else {}),
            }
        arn = ddb.create_table(**args)["TableDescription"]["TableArn"]
        return Physical(name, {"Arn": arn})

    def _bucket(self, rid: str) -> Physical:
        s3 = self.client("s3")
        name = self._name(rid, "BucketName").lower()
        args: dict[str, Any] = {"Bucket": name}
        region = self.t.pseudo["AWS::Region"]
        if region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        if self._prop(rid, "ObjectLockEnabled"):
            args["ObjectLockEnabledForBucket"] = True
        s3.create_bucket(**args)
        versioning = self._prop(rid, "VersioningConfiguration")
        if versioning:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning["Status"]})
        encryption = self._prop(rid, "BucketEncryption")
        if encryption:
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                    **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {}),
                }
                for rule in encryption["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        return Physical(name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"})

    def _bucket_notifications(self, rid: str) -> None:
        config = self._prop(rid, "NotificationConfiguration")
        if not config:
            return
        queues = [
            {
                "QueueArn": q["Queue"],
                "Events": [q["Event"]],
                **({"Filter": {"Key": {"FilterRules": q["Filter"]["S3Key"]["Rules"]}}} if "Filter" in q else {}),
            }
            for q in config.get("QueueConfigurations", [])
        ]
        if config.get("LambdaConfigurations") or config.get("TopicConfigurations"):
            raise TemplateError(f"{rid}: only queue notifications are emulated locally")
        self.client("s3").put_bucket_notification_configuration(
            Bucket=self.t.physical[rid].ref, NotificationConfiguration={"QueueConfigurations": queues}
        )

    def _function(self, rid: str) -> Physical:
        defaults = self.t.globals_for("Function")
        name = self._name(rid, "FunctionName")
        environment = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **(self._prop(rid, "Environment") or {}).get("Variables", {}),
        }
        code_uri = str(self._prop(rid, "CodeUri") or defaults.get("CodeUri", "."))
        timeout = int(self._prop(rid, "Timeout") or defaults.get("Timeout", 3))
        memory = int(self._prop(rid, "MemorySize") or defaults.get("MemorySize", 128))
        handler = str(self._prop(rid, "Handler") or defaults.get("Handler"))
        runtime = str(self._prop(rid, "Runtime") or defaults.get("Runtime", "python3.13"))
        arn = self.client("lambda").create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=self._role_arn,
            Handler=handler,
            Code={"ZipFile": _EMPTY_ZIP},
            Timeout=timeout,
            MemorySize=memory,
            Environment={"Variables": {k: str(v) for k, v in environment.items()}},
        )["FunctionArn"]
        spec = FunctionSpec(
            logical_id=rid,
            name=name,
            handler=handler,
            code_dir=str((self.t.root / code_uri).resolve()),
            environment={k: str(v) for k, v in environment.items()},
            timeout=timeout,
            memory=memory,
            arn=arn,
        )
        self.result.functions.append(spec)
        for event in (self._prop(rid, "Events") or {}).values():
            if event.get("Type") == "SQS":
                self.result.event_sources.append(self._sqs_source(name, event["Properties"]))
            elif event.get("Type") in ("EventBridgeRule", "CloudWatchEvent"):
                rule = _status_change_rule(name, event["Properties"].get("Pattern", {}))
                if rule is not None:
                    self.result.status_rules.append(rule)
        return Physical(name, {"Arn": arn})

    def _event_source_mapping(self, rid: str) -> Physical:
        """An explicit mapping: an SQS queue polls into the function (the only kind emulated)."""
        props = self.t.properties(rid)
        source = str(props["EventSourceArn"])
        if ":sqs:" not in source:
            raise TemplateError(f"{rid}: only SQS event source mappings are emulated locally")
        self.result.event_sources.append(self._sqs_source(str(props["FunctionName"]), {**props, "Queue": source}))
        return Physical(f"{self.t.pseudo['AWS::StackName']}-{rid}")

    def _sqs_source(self, function: str, props: dict[str, Any]) -> EventSource:
        queue_arn = str(props["Queue"])
        queues = [p for p in self.t.physical.values() if "QueueUrl" in p.attributes]
        url = next((q.ref for q in queues if q.attributes.get("Arn") == queue_arn), None)
        if url is None:
            raise TemplateError(f"{function}: the SQS event source {queue_arn} is not a queue of this template")
        return EventSource(
            function=function,
            queue_url=url,
            queue_arn=queue_arn,
            batch_size=int(props.get("BatchSize", 10)),
            batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
            report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            maximum_concurrency=int(props.get("ScalingConfig", {}).get("MaximumConcurrency", 2)),
        )

    def _state_machine(self, rid: str) -> Physical:
        name = self._name(rid, "Name")
        uri = self._prop(rid, "DefinitionUri")
        if not isinstance(uri, str):
            raise TemplateError(f"{rid}: local mode reads the definition from a DefinitionUri file")
        text = (self.t.root / uri).read_text()
        for key, value in (self._prop(rid, "DefinitionSubstitutions") or {}).items():
            text = text.replace(f"${{{key}}}", str(value))
        definition = json.loads(text)  # a leftover ${...} stays a string: moto reports it when the state runs
        arn = self.client("stepfunctions").create_state_machine(
            name=name,
            definition=json.dumps(definition),
            roleArn=self._role_arn,
            type=str(self._prop(rid, "Type", "STANDARD")),
        )["stateMachineArn"]
        return Physical(arn, {"Arn": arn, "Name": name})

    def _rule_set(self, rid: str) -> Physical:
        name = self._name(rid, "RuleSetName")
        self.client("ses").create_receipt_rule_set(RuleSetName=name)
        return Physical(name)

    def _rule(self, rid: str) -> Physical:
        rule = self._prop(rid, "Rule")
        rule_set = str(self._prop(rid, "RuleSetName"))
        actions = []
        for action in rule.get("Actions", []):
            if "S3Action" in action:
                actions.append({"S3Action": dict(action["S3Action"])})
        self.client("ses").create_receipt_rule(
            RuleSetName=rule_set,
            Rule={
                "Name": rule["Name"],
                "Enabled": bool(rule.get("Enabled", True)),
                "TlsPolicy": rule.get("TlsPolicy", "Optional"),
                "Recipients": rule.get("Recipients", []),
                "Actions": actions,
                "ScanEnabled": bool(rule.get("ScanEnabled", False)),
            },
        )
        return Physical(str(rule["Name"]))


def _status_change_rule(function: str, pattern: dict[str, Any]) -> StatusChangeRule | None:
    """The rule if it matches Step Functions execution status changes (other sources are not emulated)."""
    if "aws.states" not in pattern.get("source", []):
        return None
    detail = pattern.get("detail", {})
    return StatusChangeRule(
        function=function,
        statuses=frozenset(detail.get("status", [])),
        state_machine_arns=frozenset(str(a) for a in detail.get("stateMachineArn", [])),
    )


def _placeholder(template: SamTemplate, rid: str, kind: str) -> Physical:
    service = kind.split("::")[1].lower() if kind.count("::") >= 2 else "local"
    region, account = template.pseudo["AWS::Region"], template.pseudo["AWS::AccountId"]
    name = f"{template.pseudo['AWS::StackName']}-{rid}"
    return Physical(name, {"Arn": f"arn:aws:{service}:{region}:{account}:{name}"})


def _empty_zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "local mode runs the handler in-process from CodeUri\n")
    return buffer.getvalue()


_EMPTY_ZIP = _empty_zip()


def provision(template: SamTemplate, client: Callable[[str], Any]) -> Provisioned:
    """Create the template's resources through ``client(service)`` and return what local mode needs."""
    return Provisioner(template, client).run()


def template_path(root: Path | None = None) -> Path:
    """``template.yaml`` of the checkout (the directory holding ``statemachine/``)."""
    here = (root or Path(__file__)).resolve()
    for candidate in [here, *here.parents]:
        if (candidate / "template.yaml").is_file():
            return candidate / "template.yaml"
    raise FileNotFoundError("template.yaml not found above " + str(here))
