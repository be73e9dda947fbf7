"""Watchdog (scheduled): restart emails still failed close to the end of their 14-day redrive window."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mailroom import composition
from mailroom.adapters.dynamodb import DynamoStatusStore
from mailroom.adapters.stepfunctions import StepFunctionsWorkflow
from mailroom.observability import count, logger, metrics
from mailroom.settings import WatchdogSettings
from mailroom.steps.watchdog import watch


@functools.cache
def settings() -> WatchdogSettings:
    """Read once per cold start."""
    return WatchdogSettings.from_env()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One scheduled run."""
    config = settings()
    restarted = watch(
        status=DynamoStatusStore(config.status_table, composition.dynamodb()),
        executions=StepFunctionsWorkflow(config.state_machine_arn, composition.stepfunctions()),
        now=dt.datetime.now(dt.UTC),
        restart_after=dt.timedelta(days=config.restart_after_days),
    )
    for item in restarted:
        logger.warning(
            "restarted a failed email before its redrive window closes", extra={"message_id": item.message_id}
        )
    count("WatchdogRestarts", len(restarted))
    return {"restarted": [r.message_id for r in restarted]}
