"""Starter: SQS batch of S3 notifications → one execution per email (partial batch failures)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mailroom import composition
from mailroom.adapters.dynamodb import DynamoStatusStore
from mailroom.adapters.stepfunctions import StepFunctionsWorkflow
from mailroom.batch import SqsRecord as SQSRecord
from mailroom.batch import process_partial_response
from mailroom.observability import count, logger, metrics
from mailroom.settings import StarterSettings
from mailroom.steps.start import Skipped, incoming_objects, start


@functools.cache
def settings() -> StarterSettings:
    """Read once per cold start."""
    return StarterSettings.from_env()


def record_handler(record: SQSRecord) -> None:
    """Start the execution of every email one SQS message names; raising fails only this message."""
    config = settings()
    workflow = StepFunctionsWorkflow(config.state_machine_arn, composition.stepfunctions())
    status = DynamoStatusStore(config.status_table, composition.dynamodb())
    try:
        items = incoming_objects(record.body, prefix=config.incoming_prefix)
    except (ValueError, LookupError, TypeError) as exc:
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
    for item in items:
        if isinstance(item, Skipped):
            logger.info("skipped an S3 event", extra={"reason": item.reason, "key": item.key})
            count("EventsSkipped")
            continue
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        started = start(item, workflow=workflow, status=status, now=now)
        logger.info(
            "execution started" if started else "execution existed already",
            extra={"message_id": item.message_id, "size": item.size},
        )
        count("Received" if started else "DuplicateEvents")


def _poison_reason(exc: Exception) -> str:
    """Why a body is poison, without quoting it: our own messages and JSON's position errors only."""
    if isinstance(exc, json.JSONDecodeError) or type(exc) is ValueError:
        return f"{type(exc).__name__}: {exc}"[:200]
    return type(exc).__name__  # a KeyError's or a validation error's text may quote the body


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SQS event source entry point: returns ``batchItemFailures`` for the messages to redeliver."""
    count("Batches")
    return dict(process_partial_response(event, record_handler))
