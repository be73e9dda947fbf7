"""SQS partial batch responses: a failing record is reported alone; a batch that failed whole raises."""

from __future__ import annotations

from typing import Any

import pytest
from mailroom.batch import BatchProcessingError, SqsRecord, process_partial_response


def event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": f"id-{n}", "body": body, "attributes": {"ApproximateReceiveCount": "2"}}
            for n, body in enumerate(bodies)
        ]
    }


def fail_on_bad(record: SqsRecord) -> None:
    if record.body == "bad":
        raise LookupError("no such thing")


def test_only_the_records_that_raised_are_reported_by_message_id() -> None:
    seen: list[tuple[str, str]] = []

    def handler(record: SqsRecord) -> None:
        seen.append((record.message_id, record.attributes.approximate_receive_count))
        fail_on_bad(record)

    response = process_partial_response(event("ok", "bad", "ok"), handler)

    assert response == {"batchItemFailures": [{"itemIdentifier": "id-1"}]}
    assert seen == [("id-0", "2"), ("id-1", "2"), ("id-2", "2")]


def test_a_batch_whose_every_record_failed_raises_with_each_error() -> None:
    with pytest.raises(BatchProcessingError) as raised:
        process_partial_response(event("bad", "bad"), fail_on_bad)

    assert [type(exc) for _, exc, _ in raised.value.child_exceptions] == [LookupError, LookupError]
    assert "no such thing" in str(raised.value)


def test_an_empty_batch_succeeds_and_an_event_without_records_is_refused() -> None:
    assert process_partial_response({"Records": []}, fail_on_bad) == {"batchItemFailures": []}
    with pytest.raises(ValueError, match="Records"):
        process_partial_response({}, fail_on_bad)
