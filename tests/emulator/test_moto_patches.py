"""moto_patches: every patch applied once however often it is installed, and moto itself again after."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from moto.awslambda.models import LambdaFunction
from moto.dynamodb.responses import DynamoHandler
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from mailroom_cli.local import moto_patches

_TASK = "moto.stepfunctions.parser.asl.component.state.exec.state_task"
# (owner, attribute) for a sample of the patches: classes and module-level imports alike.
PATCHED = [
    (StepFunctionsParserBackend, "start_execution"),
    (DynamoHandler, "update_item"),
    (LambdaFunction, "invoke"),
    (importlib.import_module(f"{_TASK}.lambda_eval_utils"), "boto_client_for"),
    (importlib.import_module("moto.stepfunctions.parser.asl.component.common.retry.retrier_decl"), "time"),
]


def _current() -> list[Any]:
    return [vars(owner).get(name) for owner, name in PATCHED]


def test_installing_twice_patches_once_and_the_last_uninstall_restores_moto() -> None:
    assert not moto_patches.installed()  # no stack is running in this module
    originals = _current()
    first = moto_patches.install()
    patched = _current()
    assert all(p is not o for p, o in zip(patched, originals, strict=True))
    second = moto_patches.install()
    assert _current() == patched  # not wrapped a second time
    first()
    first()  # twice is harmless
    assert _current() == patched  # still installed for the second
    second()
    assert _current() == originals
    assert not moto_patches.installed()


def test_the_latest_hook_answers_until_it_is_undone() -> None:
    first = moto_patches.install(sleep=lambda seconds: None)
    later_sleep = lambda seconds: None  # noqa: E731 - identity matters here
    second = moto_patches.install(sleep=later_sleep)
    try:
        assert moto_patches.hook("sleep") is later_sleep
        second()
        assert moto_patches.hook("sleep") is not later_sleep
        assert moto_patches.hook("sleep") is not None
    finally:
        first()
        second()
    assert moto_patches.hook("sleep") is None


def test_an_unknown_hook_is_refused() -> None:
    with pytest.raises(TypeError, match="bogus"):
        moto_patches.install(bogus=lambda: None)
    assert not moto_patches.installed()


def test_copy_object_with_if_none_match_writes_nothing_over_an_existing_key() -> None:
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws

    undo = moto_patches.install()
    try:
        with mock_aws():
            s3 = boto3.client("s3", region_name="eu-west-1")
            s3.create_bucket(Bucket="conditional-copy", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            s3.put_object(Bucket="conditional-copy", Key="source", Body=b"new bytes")
            s3.put_object(Bucket="conditional-copy", Key="taken", Body=b"old bytes")
            source = {"Bucket": "conditional-copy", "Key": "source"}

            with pytest.raises(ClientError) as refused:
                s3.copy_object(Bucket="conditional-copy", Key="taken", CopySource=source, IfNoneMatch="*")
            s3.copy_object(Bucket="conditional-copy", Key="free", CopySource=source, IfNoneMatch="*")

            assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
            assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
            assert s3.get_object(Bucket="conditional-copy", Key="taken")["Body"].read() == b"old bytes"
            assert s3.get_object(Bucket="conditional-copy", Key="free")["Body"].read() == b"new bytes"
    finally:
        undo()


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-02T15:21:19.123456Z",
        "2026-12-02T15:21:19Z",
        "2026-12-02T16:21:19+01:00",
        "2026-12-02T15:21:19",  # naive: UTC
        "2026-12-02",
        "1764688879",  # epoch seconds as text: not ISO, botocore's parser reads it
        "Wed, 02 Dec 2026 15:21:19 GMT",
    ],
)
def test_serialized_timestamps_are_the_values_botocore_would_read(value: str) -> None:
    from botocore.utils import parse_to_aware_datetime
    from moto.core import serialize

    expected = parse_to_aware_datetime(value)
    undo = moto_patches.install()
    try:
        assert serialize.parse_to_aware_datetime is not parse_to_aware_datetime
        patched = serialize.parse_to_aware_datetime(value)
    finally:
        undo()
    assert serialize.parse_to_aware_datetime is parse_to_aware_datetime
    assert patched == expected
    assert patched.utcoffset() == expected.utcoffset()


def _item_operations(client: Any) -> list[Any]:
    """Every item operation the DynamoDB shortcut answers, on items holding every attribute type."""
    client.create_table(
        TableName="items",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    every_type = {
        "s": {"S": "text ü"},
        "n": {"N": "12.5"},
        "b": {"B": b"\x00\x01\xffbytes"},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2"]},
        "bs": {"BS": [b"\x00", b"\x01"]},
        "m": {"M": {"nested": {"L": [{"S": "x"}, {"NULL": True}, {"BOOL": False}, {"B": b"\x02"}]}}},
        "l": {"L": []},
        "t": {"BOOL": True},
        "z": {"NULL": True},
    }
    answers = []
    for sk in ("1", "2", "3"):
        answers.append(client.put_item(TableName="items", Item={"pk": {"S": "p"}, "sk": {"N": sk}, **every_type}))
    answers.append(
        client.put_item(
            TableName="items",
            Item={"pk": {"S": "p"}, "sk": {"N": "1"}, "s": {"S": "replaced"}},
            ReturnValues="ALL_OLD",
            ReturnConsumedCapacity="TOTAL",
        )
    )
    key = {"pk": {"S": "p"}, "sk": {"N": "2"}}
    answers.append(client.get_item(TableName="items", Key=key, ReturnConsumedCapacity="INDEXES"))
    answers.append(client.get_item(TableName="items", Key={"pk": {"S": "absent"}, "sk": {"N": "0"}}))
    answers.append(
        client.update_item(
            TableName="items",
            Key=key,
            UpdateExpression="SET #c = if_not_exists(#c, :zero) + :one, bb = :b",
            ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}, ":b": {"B": b"\xfe"}},
            ReturnValues="ALL_NEW",
        )
    )
    answers.append(
        client.batch_get_item(
            RequestItems={"items": {"Keys": [key, {"pk": {"S": "p"}, "sk": {"N": "9"}}]}},
            ReturnConsumedCapacity="TOTAL",
        )
    )
    answers.append(
        client.query(
            TableName="items", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}}, Limit=2
        )
    )
    answers.append(client.scan(TableName="items", Limit=1))
    answers.append(client.transact_get_items(TransactItems=[{"Get": {"TableName": "items", "Key": key}}]))
    answers.append(
        client.transact_write_items(
            TransactItems=[{"Put": {"TableName": "items", "Item": {"pk": {"S": "q"}, "sk": {"N": "1"}}}}]
        )
    )
    answers.append(
        client.batch_write_item(
            RequestItems={"items": [{"DeleteRequest": {"Key": {"pk": {"S": "q"}, "sk": {"N": "1"}}}}]}
        )
    )
    answers.append(client.delete_item(TableName="items", Key=key, ReturnValues="ALL_OLD"))
    try:
        client.put_item(
            TableName="items", Item={"pk": {"S": "p"}, "sk": {"N": "3"}}, ConditionExpression="attribute_not_exists(pk)"
        )
    except client.exceptions.ConditionalCheckFailedException as refused:
        answers.append(refused.response["Error"])
    for answer in answers:
        answer.pop("ResponseMetadata", None)
    return answers


def test_dynamodb_item_results_written_directly_are_what_moto_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        by_moto = _item_operations(boto3.client("dynamodb", region_name="eu-west-1"))
    wire_json = moto_patches._wire_json
    converted: list[Any] = []
    monkeypatch.setattr(moto_patches, "_wire_json", lambda value: converted.append(value) or wire_json(value))
    undo = moto_patches.install()
    try:
        with mock_aws():
            written_directly = _item_operations(boto3.client("dynamodb", region_name="eu-west-1"))
    finally:
        undo()

    assert written_directly == by_moto
    assert sum(isinstance(value, dict) and ("Item" in value or "Items" in value) for value in converted) >= 3
    assert by_moto[4]["Item"]["b"] == {"B": b"\x00\x01\xffbytes"}  # binary survived both ways
    assert by_moto[3]["Attributes"]["bs"] == {"BS": [b"\x00", b"\x01"]}


def test_the_groups_of_in_flight_sqs_messages_are_read_from_a_copy_another_receive_cannot_change() -> None:
    from moto.sqs.models import Queue

    class ChangedWhileIterated(set[Any]):
        """A set another thread changes while it is iterated (what a concurrent ReceiveMessage does)."""

        def __iter__(self) -> Any:
            for item in super().__iter__():
                self.add(object())
                yield item

    class InFlight:
        def __init__(self, group_id: str | None) -> None:
            self.group_id = group_id

    queue = Queue.__new__(Queue)
    queue._pending_messages = ChangedWhileIterated({InFlight("a"), InFlight(None), InFlight("b")})
    with pytest.raises(RuntimeError, match="changed size"):
        queue.pending_message_groups  # noqa: B018 - moto's own property
    undo = moto_patches.install()
    try:
        queue._pending_messages = ChangedWhileIterated({InFlight("a"), InFlight(None), InFlight("b")})
        assert queue.pending_message_groups == {"a", "b"}
    finally:
        undo()
