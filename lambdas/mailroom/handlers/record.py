"""Recorder: Step Functions status changes (EventBridge) → failed emails in the status table."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mailroom import composition
from mailroom.adapters.dynamodb import DynamoStatusStore
from mailroom.adapters.stepfunctions import StepFunctionsHistory
from mailroom.observability import count, logger, metrics
from mailroom.settings import RecorderSettings
from mailroom.steps.record import record_failure


@functools.cache
def settings() -> RecorderSettings:
    """Read once per cold start."""
    return RecorderSettings.from_env()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One "Step Functions Execution Status Change" event."""
    config = settings()
    detail = event.get("detail") or {}
    failure = record_failure(
        detail,
        history=StepFunctionsHistory(composition.stepfunctions()),
        status=DynamoStatusStore(config.status_table, composition.dynamodb()),
        now=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
    )
    count("StatusEvents")
    if failure is None:
        return {"recorded": False}
    logger.warning(
        "execution %s at %s: %s",
        failure.status,
        failure.step,
        failure.error,
        extra={"execution": failure.execution_arn},
    )
    count("ExecutionsFailed", step=failure.step or "unknown", error=failure.error or failure.status)
    return {"recorded": True, "step": failure.step, "error": failure.error}
