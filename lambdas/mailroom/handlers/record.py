"""Recorder: Step Functions status changes (EventBridge) → failed emails in the status table."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mailroom import composition
from mailroom.observability import count, logger, metrics
from mailroom.steps.record import record_failure


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One "Step Functions Execution Status Change" event."""
    detail = event.get("detail") or {}
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    failure = record_failure(detail, **composition.for_recorder(), now=now)
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
