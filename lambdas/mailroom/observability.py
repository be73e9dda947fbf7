"""Logger and metrics, shared by every handler, and the wrapper that makes a handler a step.

Logs carry identifiers, sizes and error names only: never addresses, subjects, content or keys.

No tracing SDK: the AWS X-Ray SDKs are in maintenance mode (end of support 2027-02-25), and
``Tracing: Active`` on the functions and the state machine already records each invocation's
service segments. Custom spans, if ever wanted, come from OpenTelemetry (the ADOT layer): see
docs/observability.md.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from mailroom.errors import MailroomError, NoKnownRecipientError, PermanentError

logger = Logger()
metrics = Metrics()

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def count(name: str, value: float = 1, *, unit: MetricUnit = MetricUnit.Count, **dimensions: str) -> None:
    """One metric point; with dimensions it is flushed on its own so they do not leak onto others."""
    if not dimensions:
        metrics.add_metric(name=name, unit=unit, value=value)
        return
    with single_metric(name=name, unit=unit, value=value, namespace=metrics.namespace) as metric:
        for key, dim in dimensions.items():
            metric.add_dimension(name=key, value=dim)


def step(name: str) -> Callable[[Callable[[Mapping[str, Any]], dict[str, Any]]], Handler]:
    """Make ``run(event) -> result`` the Lambda handler of state ``name``.

    Adds the Lambda context and the SES message id (as correlation id) to every log line, flushes
    metrics, and counts each raised taxonomy error by step and name before re-raising it
    unchanged: its class name is what the state machine's Retry and Catch match.
    """

    def wrap(run: Callable[[Mapping[str, Any]], dict[str, Any]]) -> Handler:
        @functools.wraps(run)
        @logger.inject_lambda_context(clear_state=True)
        @metrics.log_metrics
        def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            message_id = event.get("message_id") if isinstance(event, dict) else None
            if isinstance(message_id, str):
                logger.set_correlation_id(message_id)
            logger.append_keys(step=name)
            try:
                result = run(event)
            except MailroomError as exc:
                error = type(exc).__name__
                outcome = (
                    "Unroutable"
                    if isinstance(exc, NoKnownRecipientError)
                    else ("Quarantined" if isinstance(exc, PermanentError) else "StepFailed")
                )
                logger.warning("step raised %s", error, extra={"reason": exc.reason, "detail": str(exc)})
                count(f"{name}Failed")
                count(outcome)  # the plain count (service dimension only) that alarms and rates use
                count(outcome, step=name, error=error)
                raise
            except Exception as exc:
                # Unclassified: not retried, not caught; the execution fails here and stays redrivable.
                logger.error("step raised an unclassified %s", type(exc).__name__)  # its text may quote content
                count(f"{name}Failed")
                count("StepFailed", step=name, error=type(exc).__name__)
                raise
            count(f"{name}Succeeded")
            return result

        return handler

    return wrap
