"""Watchdog (scheduled): restart emails still failed close to the end of their 14-day redrive window,
and record stored emails that no SES notification announced (unroutable, ``no-envelope``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mailroom import composition
from mailroom.observability import count, logger, metrics
from mailroom.steps.watchdog import sweep, watch


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """One scheduled run."""
    deps = composition.for_watchdog()
    config, status = deps["settings"], deps["status"]
    now = dt.datetime.now(dt.UTC)
    restarted = watch(
        status=status,
        executions=deps["executions"],
        now=now,
        restart_after=dt.timedelta(days=config.restart_after_days),
    )
    unenveloped = sweep(
        objects=deps["objects"],
        status=status,
        bucket=config.incoming_bucket,
        prefix=config.incoming_prefix,
        now=now,
        older_than=dt.timedelta(minutes=config.sweep_after_minutes),
        lookback=dt.timedelta(hours=config.sweep_lookback_hours),
    )
    for message_id in unenveloped:
        logger.warning("recorded a stored email without envelope as unroutable", extra={"message_id": message_id})
    count("NoEnvelope", len(unenveloped))
    for item in restarted:
        logger.warning(
            "restarted a failed email before its redrive window closes", extra={"message_id": item.message_id}
        )
    count("WatchdogRestarts", len(restarted))
    return {"restarted": [r.message_id for r in restarted], "no_envelope": unenveloped}
