"""Write statemachine/inbound_email.asl.json from the error taxonomy (run after changing errors.py).

The ASL file is the artifact `sam deploy` ships and the local engine runs; this script only saves
typing the same Retry/Catch lists four times. tests/statemachine/test_asl_contract.py checks the
file, not this script, so hand edits are fine as long as the contract holds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lambdas"))

from mailroom.errors import (  # noqa: E402
    ConfigurationError,
    DependencyAccessDeniedError,
    NoKnownRecipientError,
    PermanentError,
    RetryableError,
    leaf_errors,
)

LAMBDA_SERVICE = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    # The Lambda service's own invoke timeout (not the function's): Step Functions names it in its
    # Lambda integration's retry advice beside the four above.
    "Lambda.ClientExecutionTimeoutException",
]
# The Lambda runtime's names for a crash: an unhandled error without errorType (out of memory, a killed
# process: Step Functions reports Lambda.Unknown) and a function timeout (errorType Sandbox.Timedout).
# No Task has TimeoutSeconds or HeartbeatSeconds, so States.Timeout cannot happen at any of them.
CRASH = ["Lambda.Unknown", "Sandbox.Timedout"]
# NoKnownRecipientError comes from routing (mailroom.routing), which only Parse runs: a Catch for it at
# another step could never fire (tests/statemachine/test_asl_contract.py checks who can raise it).
ROUTING_STEP = "Parse"
STEPS = {
    "Decrypt": "SES's KMS-encrypted object -> plaintext MIME in staging (GCM tag checked before anything is published)",
    "Parse": "MIME -> staged files + manifest; routes to mailboxes (none: Unroutable); a virus verdict is refused",
    "Archive": "Staged files -> archive; keys from message id + SHA-256, each written once",
    "Inbox": "One inbox item per user (conditional put), then the status record says delivered",
}


def main() -> None:
    """Regenerate the ASL file."""
    leaves = leaf_errors()
    needs_operator = {DependencyAccessDeniedError.__name__, ConfigurationError.__name__}
    transient = sorted(n for n, c in leaves.items() if issubclass(c, RetryableError) and n not in needs_operator)
    permanent = sorted(n for n, c in leaves.items() if issubclass(c, PermanentError) and c is not NoKnownRecipientError)
    retry = [
        _retrier("Lambda service hiccups", LAMBDA_SERVICE, 1, 6, 2, 30),
        _retrier("An AWS dependency throttled or unavailable", transient, 2, 6, 2.5, 120),
        _retrier(
            "Needs an operator (policy, settings): retried twice, then fails here", sorted(needs_operator), 10, 2, 3, 60
        ),
        _retrier("The function timed out or crashed: once more, then fails here", CRASH, 5, 1, 2, 30),
    ]
    unroutable = {"ErrorEquals": [NoKnownRecipientError.__name__], "ResultPath": "$.error", "Next": "RecordUnroutable"}
    states: dict[str, object] = {}
    names = list(STEPS)
    for i, step in enumerate(names):
        task: dict[str, object] = {
            "Type": "Task",
            "Comment": STEPS[step],
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": f"${{{step}FunctionArn}}", "Payload.$": "$"},
            "OutputPath": "$.Payload",
            "Retry": retry,
            "Catch": [
                *([unroutable] if step == ROUTING_STEP else []),
                {"ErrorEquals": permanent, "ResultPath": "$.error", "Next": f"QuarantinedAt{step}"},
            ],
        }
        if i + 1 < len(names):
            task["Next"] = names[i + 1]
        else:
            task["End"] = True
        states[step] = task
    for step in names:
        states[f"QuarantinedAt{step}"] = {
            "Type": "Pass",
            "Comment": f"Remember that {step} refused the email",
            "Result": step,
            "ResultPath": "$.failed_step",
            "Next": "RecordQuarantine",
        }
    states["RecordQuarantine"] = _recorder("quarantined", "$.failed_step", "Quarantined")
    states["Quarantined"] = {
        "Type": "Succeed",
        "Comment": "Terminal: the email cannot be delivered as it is; it is kept and recorded with its reason",
    }
    states["RecordUnroutable"] = _recorder("unroutable", None, "Unroutable")
    states["Unroutable"] = {
        "Type": "Succeed",
        "Comment": "Terminal: no registered mailbox among the recipients; the email is kept and recorded",
    }
    asl = {
        "Comment": "mailroom: one execution per inbound email, named by its SES message id. Retryable errors are "
        "retried, then fail the execution at their step so a redrive resumes there; permanent errors end "
        "Quarantined or Unroutable, recorded in the status table.",
        "QueryLanguage": "JSONPath",
        "StartAt": names[0],
        "States": states,
    }
    target = ROOT / "statemachine" / "inbound_email.asl.json"
    target.write_text(json.dumps(asl, indent=2) + "\n")
    print(f"wrote {target.relative_to(ROOT)}")


def _retrier(
    comment: str, errors: list[str], interval: int, attempts: int, rate: float, max_delay: int
) -> dict[str, object]:
    return {
        "Comment": comment,
        "ErrorEquals": errors,
        "IntervalSeconds": interval,
        "MaxAttempts": attempts,
        "BackoffRate": rate,
        "MaxDelaySeconds": max_delay,
        "JitterStrategy": "FULL",
    }


def _recorder(status: str, step_path: str | None, nxt: str) -> dict[str, object]:
    names = {
        "#status": "status",
        "#error": "error",
        "#cause": "cause",
        "#updated": "updated_at",
        "#arn": "execution_arn",
    }
    values: dict[str, object] = {
        ":status": {"S": status},
        ":error": {"S.$": "$.error.Error"},
        ":cause": {"S.$": "$.error.Cause"},
        ":now": {"S.$": "$$.State.EnteredTime"},
        ":arn": {"S.$": "$$.Execution.Id"},
    }
    update = "SET #status = :status, #error = :error, #cause = :cause, #updated = :now, #arn = :arn"
    if step_path is not None:
        names["#step"] = "step"
        values[":step"] = {"S.$": step_path}
        update += ", #step = :step"
    else:
        names["#step"] = "step"
        update += " REMOVE #step"
    return {
        "Type": "Task",
        "Comment": f"Record the email as {status} with the error that ended it",
        "Resource": "arn:aws:states:::dynamodb:updateItem",
        "Parameters": {
            "TableName": "${StatusTableName}",
            "Key": {"message_id": {"S.$": "$.message_id"}},
            "UpdateExpression": update,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        },
        "ResultPath": None,
        "Retry": [_retrier("DynamoDB throttled or unavailable", ["States.ALL"], 2, 6, 2.5, 120)],
        "Next": nxt,
    }


if __name__ == "__main__":
    main()
