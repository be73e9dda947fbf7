"""Starter: SQS batch of SES receipt notifications → one execution per email (partial batch failures)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mailroom import composition
from mailroom.batch import SqsRecord as SQSRecord
from mailroom.batch import process_partial_response
from mailroom.envelope import NotAnEmail
from mailroom.observability import count, logger, metrics
from mailroom.steps.start import announce

# What each outcome is logged and counted as.
_SAID = {
    "started": ("execution started", "Received"),
    "existed": ("execution existed already", "DuplicateEvents"),
    "skipped": ("skipped a queue message", "EventsSkipped"),
}


def record_handler(record: SQSRecord) -> None:
    """Start the execution of the email one SQS message announces; raising fails only this message."""
    deps = composition.for_starter()
    config = deps["settings"]
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    try:
        outcome = announce(
            record.body,
            bucket=config.incoming_bucket,
            prefix=config.incoming_prefix,
            workflow=deps["workflow"],
            status=deps["status"],
            now=now,
        )
    except NotAnEmail as exc:
        # A poison message: SQS redelivers it until maxReceiveCount, then the DLQ keeps it. The DLQ
        # says nothing about why, so the reason is logged (and counted) here, by SQS message id.
        logger.warning(
            "rejected an SQS message that names no email",
            extra={
                "sqs_message_id": record.message_id,
                "receive_count": record.attributes.approximate_receive_count,
                "reason": _poison_reason(exc),
            },
        )
        count("PoisonMessages")
        raise
    said, metric = _SAID[outcome.kind]
    logger.info(said, extra=outcome.log_fields())
    count(metric)


def _poison_reason(exc: NotAnEmail) -> str:
    """Why a body is poison, in our own words only (they never quote the body)."""
    return f"{type(exc).__name__}: {exc}"[:200]


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SQS event source entry point: returns ``batchItemFailures`` for the messages to redeliver."""
    count("Batches")
    return dict(process_partial_response(event, record_handler))
