"""SQS partial batch responses (``ReportBatchItemFailures``): each record handled alone, failures reported by id.

What the Starter used from Powertools' batch utility, by hand: importing that utility imports asyncio
and every Powertools event class (about 60 ms of the Starter's cold start on a quiet 2-core machine,
half of ``import boto3``) for a loop of a dozen lines. The behaviour is Powertools' for a standard
queue: a record that raises is reported in ``batchItemFailures`` (SQS redelivers only it); when every
record of the batch failed, ``BatchProcessingError`` fails the whole invocation, as Powertools does.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

ExceptionInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class BatchProcessingError(Exception):
    """Every record of the batch failed; ``child_exceptions`` holds each one's ``sys.exc_info()``."""

    def __init__(self, message: str, child_exceptions: list[ExceptionInfo]) -> None:
        super().__init__(message)
        self.child_exceptions = child_exceptions

    def __str__(self) -> str:
        parts = [super().__str__()]
        parts += ["".join(traceback.format_exception(*info)) for info in self.child_exceptions]
        return "\n".join(parts)


class SqsAttributes:
    """The message attributes SQS sets (the few we read, with Powertools' names)."""

    __slots__ = ("raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw

    @property
    def approximate_receive_count(self) -> str:
        """How many times SQS has handed this message out, this time included."""
        return str(self.raw.get("ApproximateReceiveCount", ""))


class SqsRecord:
    """One record of an SQS event, as Lambda's event source mapping delivers it."""

    __slots__ = ("raw_event",)

    def __init__(self, raw_event: Mapping[str, Any]) -> None:
        self.raw_event = raw_event

    @property
    def message_id(self) -> str:
        """SQS's message id: the ``itemIdentifier`` of a failure."""
        return str(self.raw_event["messageId"])

    @property
    def body(self) -> str:
        """The message body, as sent."""
        return str(self.raw_event["body"])

    @property
    def attributes(self) -> SqsAttributes:
        """SQS's system attributes of the message."""
        return SqsAttributes(self.raw_event.get("attributes") or {})


def process_partial_response(
    event: Mapping[str, Any], record_handler: Callable[[SqsRecord], object]
) -> dict[str, list[dict[str, str]]]:
    """Run ``record_handler`` on each record; the response names the records that raised."""
    records = event.get("Records")
    if not isinstance(records, list):
        raise ValueError("not an SQS event: no Records list")
    failed: list[str] = []
    errors: list[ExceptionInfo] = []
    for raw in records:
        record = SqsRecord(raw)
        try:
            record_handler(record)
        except Exception as exc:  # noqa: BLE001 - one record's failure, whatever it is, must not fail the others
            failed.append(record.message_id)
            errors.append((type(exc), exc, exc.__traceback__))
    if records and len(failed) == len(records):
        raise BatchProcessingError(
            f"All records failed processing. {len(errors)} individual errors logged separately below.", errors
        ) from errors[0][1]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
