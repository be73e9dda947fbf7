"""The mailbox registry, the inbox and the status records on DynamoDB."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from mailroom.adapters.aws_errors import error_code, translated_dynamodb_errors
from mailroom.envelope import SOURCE_OPERATOR, SOURCE_SES, Envelope, Verdicts
from mailroom.errors import DatabaseUnavailableError
from mailroom.lifecycle import NO_ENVELOPE, OUTCOMES
from mailroom.models import Mailbox
from mailroom.ports import Failure

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import KeysAndAttributesTypeDef

BATCH_GET_LIMIT: Final = 100
CAUSE_LIMIT: Final = 4096  # a cause holds the error message and a stack trace; the history has it whole
_UNPROCESSED_ROUNDS: Final = 5
# ``#s IN (:o1, …)``: the outcomes a late write must never overwrite
_OUTCOME_VALUES: Final = {f":o{n}": status for n, status in enumerate(OUTCOMES, 1)}
_NOT_AN_OUTCOME: Final = f"attribute_not_exists(#s) OR NOT (#s IN ({', '.join(_OUTCOME_VALUES)}))"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values → DynamoDB attribute values (``None`` values are left out)."""
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values → plain values."""
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def batch_get(
    client: DynamoDBClient, table: str, keys: Sequence[dict[str, Any]], *, projection: str | None = None
) -> Iterator[dict[str, Any]]:
    """The items of ``keys`` (consistent reads, 100 keys a call; unprocessed keys asked again a few times)."""
    for start in range(0, len(keys), BATCH_GET_LIMIT):
        pending = list(keys[start : start + BATCH_GET_LIMIT])
        for attempt in range(_UNPROCESSED_ROUNDS):
            if attempt:
                time.sleep(0.05 * 2**attempt)  # unprocessed keys mean throttling: back off a little
            request: KeysAndAttributesTypeDef = {"Keys": pending, "ConsistentRead": True}
            if projection is not None:
                request["ProjectionExpression"] = projection
            with translated_dynamodb_errors(operation="BatchGetItem", table=table):
                response = client.batch_get_item(RequestItems={table: request})
            yield from (from_item(raw) for raw in response.get("Responses", {}).get(table, []))
            unprocessed = response.get("UnprocessedKeys") or {}
            pending = list(unprocessed[table]["Keys"]) if table in unprocessed else []
            if not pending:
                break
        else:
            raise DatabaseUnavailableError(f"DynamoDB BatchGetItem on {table} left keys unprocessed")


def _values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def _client(client: DynamoDBClient | None) -> DynamoDBClient:
    return client if client is not None else boto3.client("dynamodb")


def _is_condition_failure(exc: ClientError) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


class DynamoMailboxRegistry:
    """Mailboxes keyed by ``address`` (lower case); items: ``address``, ``user``, ``tenant``, ``enabled``."""

    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self._table = table
        self._client = _client(client)

    def lookup(self, addresses: Sequence[str]) -> list[Mailbox]:
        """BatchGetItem (100 keys a call; unprocessed keys are asked again a few times)."""
        wanted = list(dict.fromkeys(a.lower() for a in addresses))
        found: dict[str, Mailbox] = {}
        for item in batch_get(self._client, self._table, [{"address": {"S": a}} for a in wanted]):
            if item.get("enabled", True):
                found[item["address"]] = Mailbox(
                    address=item["address"], user=item["user"], tenant=item.get("tenant", "default")
                )
        return [found[a] for a in wanted if a in found]


class DynamoInbox:
    """Inbox items keyed by (``user``, ``message_id``): one per user and email, written once."""

    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self._table = table
        self._client = _client(client)

    def put_if_absent(self, item: Mapping[str, Any]) -> bool:
        """Conditional PutItem: a retry or replay finds the item and writes nothing."""
        try:
            with translated_dynamodb_errors(operation="PutItem", table=self._table):
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(item),
                    ConditionExpression="attribute_not_exists(#u)",
                    ExpressionAttributeNames={"#u": "user"},
                )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def claim(self, user: str, key: str, message_id: str) -> str:
        """Conditional put of a marker ``(user, key) → owner``; on conflict, the owner already recorded."""
        try:
            with translated_dynamodb_errors(operation="PutItem", table=self._table):
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item({"user": user, "message_id": key, "owner": message_id}),
                    ConditionExpression="attribute_not_exists(#u) OR #o = :m",
                    ExpressionAttributeNames={"#u": "user", "#o": "owner"},
                    ExpressionAttributeValues={":m": {"S": message_id}},
                )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            with translated_dynamodb_errors(operation="GetItem", table=self._table):
                found = self._client.get_item(
                    TableName=self._table,
                    Key={"user": {"S": user}, "message_id": {"S": key}},
                    ConsistentRead=True,
                )
            return str(from_item(found["Item"])["owner"]) if "Item" in found else message_id
        return message_id


class DynamoStatusStore:
    """Status records keyed by ``message_id``; ``status`` + ``updated_at`` feed the ``by-status`` index."""

    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self._table = table
        self._client = _client(client)

    def mark_received(
        self, message_id: str, *, received_at: str, execution_arn: str, envelope: Envelope, now: str
    ) -> bool:
        """Fill in what is missing only: a duplicate notification, or an execution that already ended, keeps its status.

        The envelope is written with the record, before the execution starts: Parse reads it here.
        """
        values: dict[str, Any] = {
            ":s": "received",
            ":r": received_at,
            ":now": now,
            ":arn": execution_arn,
            ":rcpt": list(envelope.recipients),
            ":src": envelope.source,
        }
        update = (
            "SET #s = if_not_exists(#s, :s), received_at = if_not_exists(received_at, :r), "
            "updated_at = if_not_exists(updated_at, :now), execution_arn = if_not_exists(execution_arn, :arn), "
            "recipients = if_not_exists(recipients, :rcpt), envelope_source = if_not_exists(envelope_source, :src)"
        )
        if envelope.verdicts is not None:
            values[":v"] = envelope.verdicts.as_dict()
            update += ", verdicts = if_not_exists(verdicts, :v)"
        with translated_dynamodb_errors(operation="UpdateItem", table=self._table):
            response = self._client.update_item(
                TableName=self._table,
                Key={"message_id": {"S": message_id}},
                UpdateExpression=update,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=_values(values),
                ReturnValues="ALL_OLD",
            )
        return "Attributes" not in response

    def envelope(self, message_id: str) -> Envelope | None:
        """The recipients (and verdicts) the status record holds; ``None`` without recipients."""
        with translated_dynamodb_errors(operation="GetItem", table=self._table):
            response = self._client.get_item(
                TableName=self._table,
                Key={"message_id": {"S": message_id}},
                ConsistentRead=True,
                ProjectionExpression="recipients, verdicts, envelope_source",
            )
        item = from_item(response.get("Item", {}))
        recipients = item.get("recipients")
        if not isinstance(recipients, list) or not recipients:
            return None
        verdicts = item.get("verdicts")
        return Envelope(
            recipients=tuple(str(r) for r in recipients),
            verdicts=Verdicts.from_dict(verdicts) if isinstance(verdicts, dict) else None,
            source=str(item.get("envelope_source") or SOURCE_SES),
        )

    def note_unroutable_recipients(self, message_id: str, count: int) -> None:
        """Set ``unroutable_recipients`` (a count: the addresses themselves stay in ``recipients``)."""
        with translated_dynamodb_errors(operation="UpdateItem", table=self._table):
            self._client.update_item(
                TableName=self._table,
                Key={"message_id": {"S": message_id}},
                UpdateExpression="SET unroutable_recipients = :n",
                ExpressionAttributeValues={":n": {"N": str(count)}},
            )

    def known(self, message_ids: Sequence[str]) -> set[str]:
        """Which of ``message_ids`` have a status record (BatchGetItem, keys only)."""
        keys = [{"message_id": {"S": m}} for m in dict.fromkeys(message_ids)]
        return {str(i["message_id"]) for i in batch_get(self._client, self._table, keys, projection="message_id")}

    def mark_unenveloped(self, message_id: str, *, received_at: str, now: str) -> bool:
        """Record a stored email no notification announced: unroutable, reason ``no-envelope``.

        Only where no record exists: a notification that arrives after all wins the race or finds
        this record and leaves it (``mailroom replay ID --to`` routes the email then).
        """
        try:
            with translated_dynamodb_errors(operation="PutItem", table=self._table):
                self._client.put_item(
                    TableName=self._table,
                    Item=to_item(
                        {
                            "message_id": message_id,
                            "status": "unroutable",
                            "reason": NO_ENVELOPE,
                            "received_at": received_at,
                            "updated_at": now,
                        }
                    ),
                    ConditionExpression="attribute_not_exists(message_id)",
                )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def reroute(self, message_id: str, *, recipients: Sequence[str], now: str) -> bool:
        """An operator states the recipients of an unroutable email; it is in flight again.

        Refused (``False``) for any other status: an email delivered, quarantined or in flight keeps
        the envelope SES gave it.
        """
        try:
            with translated_dynamodb_errors(operation="UpdateItem", table=self._table):
                self._client.update_item(
                    TableName=self._table,
                    Key={"message_id": {"S": message_id}},
                    UpdateExpression="SET #s = :received, recipients = :rcpt, envelope_source = :src, "
                    "rerouted_at = :now, updated_at = :now REMOVE #e, cause, reason, step, unroutable_recipients",
                    ConditionExpression="#s = :unroutable",
                    ExpressionAttributeNames={"#s": "status", "#e": "error"},
                    ExpressionAttributeValues=_values(
                        {
                            ":received": "received",
                            ":unroutable": "unroutable",
                            ":rcpt": list(recipients),
                            ":src": SOURCE_OPERATOR,
                            ":now": now,
                        }
                    ),
                )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def mark_failed(self, message_id: str, *, failure: Failure, now: str) -> bool:
        """Set status failed, unless an outcome was recorded (a late event must not undo a redrive's success)."""
        values = {
            ":s": "failed",
            ":now": now,
            ":arn": failure.execution_arn,
            ":step": failure.step or "unknown",
            ":error": failure.error or failure.status,
            ":cause": (failure.cause or "")[:CAUSE_LIMIT],
            **_OUTCOME_VALUES,
        }
        try:
            with translated_dynamodb_errors(operation="UpdateItem", table=self._table):
                self._client.update_item(
                    TableName=self._table,
                    Key={"message_id": {"S": message_id}},
                    UpdateExpression="SET #s = :s, updated_at = :now, execution_arn = :arn, step = :step, "
                    "#e = :error, #c = :cause",
                    ConditionExpression=_NOT_AN_OUTCOME,
                    ExpressionAttributeNames={"#s": "status", "#e": "error", "#c": "cause"},
                    ExpressionAttributeValues=_values(values),
                )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def failed_since_before(self, cutoff: str) -> list[dict[str, Any]]:
        """Failed records last updated before ``cutoff``, from the ``by-status`` index."""
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "by-status",
            "KeyConditionExpression": "#s = :s AND updated_at < :cutoff",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": "failed"}, ":cutoff": {"S": cutoff}},
        }
        while True:
            with translated_dynamodb_errors(operation="Query", table=self._table):
                page = self._client.query(**kwargs)
            found.extend(from_item(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def mark_restarted(self, message_id: str, *, execution_arn: str, now: str) -> None:
        """In flight again: status received under the new execution, restarts counted.

        It is written *after* the redrive or restart began, which may already have delivered the
        email: an outcome is never set back to received.
        """
        try:
            with translated_dynamodb_errors(operation="UpdateItem", table=self._table):
                self._client.update_item(
                    TableName=self._table,
                    Key={"message_id": {"S": message_id}},
                    UpdateExpression="SET #s = :s, execution_arn = :arn, updated_at = :now, "
                    "replays = if_not_exists(replays, :z) + :one",
                    ConditionExpression=_NOT_AN_OUTCOME,
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":s": {"S": "received"},
                        ":arn": {"S": execution_arn},
                        ":now": {"S": now},
                        ":z": {"N": "0"},
                        ":one": {"N": "1"},
                        **{k: {"S": v} for k, v in _OUTCOME_VALUES.items()},
                    },
                )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise

    def mark_duplicate(self, message_id: str, *, duplicate_of: str, now: str) -> None:
        """Set status duplicate, naming the SES message that was delivered first."""
        with translated_dynamodb_errors(operation="UpdateItem", table=self._table):
            self._client.update_item(
                TableName=self._table,
                Key={"message_id": {"S": message_id}},
                UpdateExpression="SET #s = :s, updated_at = :now, duplicate_of = :d REMOVE step, #e, reason, cause",
                ExpressionAttributeNames={"#s": "status", "#e": "error"},
                ExpressionAttributeValues={":s": {"S": "duplicate"}, ":now": {"S": now}, ":d": {"S": duplicate_of}},
            )

    def mark_delivered(self, message_id: str, *, items: int, now: str) -> None:
        """Set status delivered and clear any earlier failure (a replayed email ends here too)."""
        with translated_dynamodb_errors(operation="UpdateItem", table=self._table):
            self._client.update_item(
                TableName=self._table,
                Key={"message_id": {"S": message_id}},
                # `cause` is what the state machine's Record* states write next to `error`.
                UpdateExpression="SET #s = :s, updated_at = :now, delivered_at = :now, #n = :n "
                "REMOVE step, #e, reason, cause",
                ExpressionAttributeNames={"#s": "status", "#e": "error", "#n": "items"},
                ExpressionAttributeValues={":s": {"S": "delivered"}, ":now": {"S": now}, ":n": {"N": str(items)}},
            )
