"""The real ASL on the local engine, scripted by ``statemachine/test/MockConfigFile.json``.

Each test case of the file is started on ``<stateMachineArn>#<case>`` and judged by its history:
the states entered, the attempts each Task made, the errors it failed with, the Retry or Catch
clause each failure fired, the status record the real DynamoDB integration wrote, and the backoff
waits the retriers asked for (compressed here, recorded unscaled) against the ASL's
``IntervalSeconds``/``BackoffRate``/``MaxDelaySeconds`` with FULL jitter. Every clause of the ASL
is fired by some case, and docs/state-machine-tests.md's coverage table says which. The loader's
own checks are at the end.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from local_stack import LOOPBACK, wait_until
from mailroom.adapters.dynamodb import DynamoStatusStore
from mailroom.envelope import Envelope

from mailroom_cli import operations as ops
from mailroom_cli.local import mocking
from mailroom_cli.local.stack import LocalStack
from mailroom_cli.target import from_local

pytestmark = pytest.mark.allow_hosts(LOOPBACK)

ROOT = Path(__file__).resolve().parents[2]
MOCK_FILE = ROOT / "statemachine" / "test" / "MockConfigFile.json"
DOC = ROOT / "docs" / "state-machine-tests.md"
ASL = json.loads((ROOT / "statemachine" / "inbound_email.asl.json").read_text())
MACHINE = "mailroom-local-inbound-email"  # the name the local stack creates it with: the file's key
CASES = list(json.loads(MOCK_FILE.read_text())["StateMachines"][MACHINE]["TestCases"])
DEADLINE = 30.0

STEPS = ["Decrypt", "Parse", "Archive", "Inbox"]
QUARANTINE = ["RecordQuarantine", "Quarantined"]


# The Retry and Catch clauses, by index in their state's list: "Decrypt.Retry[0]", "Parse.Catch[1]", ...
# (fired() finds each from a history by its ErrorEquals, so a wrong index here fails its case).
LAMBDA_SERVICE, DEPENDENCY, OPERATOR, CRASH = 0, 1, 2, 3  # each Task's retriers, in order


def retry(state: str, index: int = 0) -> str:
    """The id of a Retry clause."""
    return f"{state}.Retry[{index}]"


def catch(state: str, index: int = 0) -> str:
    """The id of a Catch clause."""
    return f"{state}.Catch[{index}]"


def clauses(asl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every Retry and Catch clause of every state, by id."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in asl["States"].items():
        for kind in ("Retry", "Catch"):
            for i, clause in enumerate(state.get(kind, [])):
                found[f"{name}.{kind}[{i}]"] = clause
    return found


UNROUTABLE = catch("Parse", 0)  # NoKnownRecipientError, at the one step that routes
QUARANTINE_AT = {
    "Decrypt": catch("Decrypt"),
    "Parse": catch("Parse", 1),
    "Archive": catch("Archive"),
    "Inbox": catch("Inbox"),
}


@dataclass(frozen=True)
class Expected:
    """What one test case's history must show."""

    states: list[str]  # states entered, in order (a retry is not a transition)
    attempts: dict[str, int]  # TaskScheduled events per Task state
    errors: dict[str, list[str]] = field(default_factory=dict)  # TaskFailed errors per state, in order
    failed: tuple[str, str] | None = None  # (state, error) when the execution must fail there
    recorded: tuple[str, str | None, str] | None = None  # (status, step, error) of the status record
    clauses: frozenset[str] = frozenset()  # the Retry and Catch clauses the history shows firing


def _once(*states: str) -> dict[str, int]:
    return dict.fromkeys(states, 1)


def _fired(*ids: str) -> frozenset[str]:
    return frozenset(ids)


LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def _exhausted(step: str, errors: list[str], index: int) -> Expected:
    """``step`` fails every attempt its retrier allows: the execution fails there, redrivable."""
    at = STEPS.index(step)
    return Expected(
        STEPS[: at + 1],
        {**_once(*STEPS[:at]), step: len(errors)},
        {step: errors},
        failed=(step, errors[-1]),
        clauses=_fired(retry(step, index)),
    )


def _recovered(step: str, errors: list[str], index: int) -> Expected:
    """``step`` fails ``errors`` then succeeds: delivered."""
    return Expected(STEPS, {**_once(*STEPS), step: len(errors) + 1}, {step: errors}, clauses=_fired(retry(step, index)))


def _quarantined(step: str, error: str) -> Expected:
    at = STEPS.index(step)
    return Expected(
        [*STEPS[: at + 1], f"QuarantinedAt{step}", *QUARANTINE],
        _once(*STEPS[: at + 1], "RecordQuarantine"),
        {step: [error]},
        recorded=("quarantined", step, error),
        clauses=_fired(QUARANTINE_AT[step]),
    )


EXPECTED: dict[str, Expected] = {
    "HappyPath": Expected(STEPS, _once(*STEPS)),
    # Retry[0]: the Lambda service's own errors (6 retries, 1 s doubling, capped at 30 s)
    "DecryptThrottledRecovered": _recovered("Decrypt", ["Lambda.TooManyRequestsException"] * 3, LAMBDA_SERVICE),
    "ParseLambdaServiceErrorsRecovered": _recovered("Parse", LAMBDA_ERRORS, LAMBDA_SERVICE),
    "ArchiveLambdaServiceErrorsRecovered": _recovered(
        "Archive", ["Lambda.SdkClientException", "Lambda.ClientExecutionTimeoutException"], LAMBDA_SERVICE
    ),
    "InboxLambdaServiceErrorsExhausted": _exhausted(
        "Inbox", [e for e in LAMBDA_ERRORS[:3] for _ in range(2)] + LAMBDA_ERRORS[3:], LAMBDA_SERVICE
    ),
    # Retry[1]: an AWS dependency unavailable (6 retries, 2 s × 2.5^n, capped at 120 s)
    "DecryptTransientRecovered": _recovered("Decrypt", ["KeyServiceUnavailableError"] * 2, DEPENDENCY),
    "ParseTransientRecovered": _recovered("Parse", ["StorageUnavailableError"] * 2, DEPENDENCY),
    "ArchiveTransientRecovered": _recovered("Archive", ["StorageUnavailableError"] * 2, DEPENDENCY),
    "InboxTransientRecovered": _recovered("Inbox", ["DatabaseUnavailableError"] * 2, DEPENDENCY),
    "ArchiveRetriesExhausted": _exhausted("Archive", ["StorageUnavailableError"] * 7, DEPENDENCY),
    # Retry[2]: needs an operator (2 retries, 10 s × 3^n): both names share the budget, then it fails there
    "DecryptNeedsAnOperator": _exhausted(
        "Decrypt", ["ConfigurationError", "DependencyAccessDeniedError", "ConfigurationError"], OPERATOR
    ),
    "ParseNeedsAnOperator": _exhausted(
        "Parse", ["DependencyAccessDeniedError", "ConfigurationError", "DependencyAccessDeniedError"], OPERATOR
    ),
    "ArchiveNeedsAnOperator": _exhausted(
        "Archive", ["ConfigurationError", "ConfigurationError", "DependencyAccessDeniedError"], OPERATOR
    ),
    "InboxNeedsAnOperator": _exhausted("Inbox", ["DependencyAccessDeniedError"] * 3, OPERATOR),
    # Retry[3]: a crash or a function timeout, retried once (5 s), then it fails there
    "DecryptCrashed": _exhausted("Decrypt", ["Lambda.Unknown", "Sandbox.Timedout"], CRASH),
    "ParseTimedOutRecovered": _recovered("Parse", ["Sandbox.Timedout"], CRASH),
    "ArchiveCrashed": _exhausted("Archive", ["Sandbox.Timedout", "Lambda.Unknown"], CRASH),
    "InboxCrashed": _exhausted("Inbox", ["Lambda.Unknown"] * 2, CRASH),
    # Catch: permanent errors end recorded, never retried
    "DecryptTampered": _quarantined("Decrypt", "TamperedCiphertextError"),
    "ParseMalformed": _quarantined("Parse", "MalformedMessageError"),
    "ParseVirusDetected": _quarantined("Parse", "VirusDetectedError"),
    "ArchiveSourceMissing": _quarantined("Archive", "SourceObjectMissingError"),
    "InboxManifestMissing": _quarantined("Inbox", "SourceObjectMissingError"),
    "Unroutable": Expected(
        ["Decrypt", "Parse", "RecordUnroutable", "Unroutable"],
        _once("Decrypt", "Parse", "RecordUnroutable"),
        {"Parse": ["NoKnownRecipientError"]},
        recorded=("unroutable", None, "NoKnownRecipientError"),
        clauses=_fired(UNROUTABLE),
    ),
    # The recorders retry whatever DynamoDB answers (States.ALL: 6 retries, 2 s × 2.5^n)
    "QuarantineRecordRetried": Expected(
        ["Decrypt", "QuarantinedAtDecrypt", *QUARANTINE],
        {"Decrypt": 1, "RecordQuarantine": 3},
        {
            "Decrypt": ["TamperedCiphertextError"],
            "RecordQuarantine": ["DynamoDB.ProvisionedThroughputExceededException"] * 2,
        },
        clauses=_fired(QUARANTINE_AT["Decrypt"], retry("RecordQuarantine")),
    ),
    "UnroutableRecordRetried": Expected(
        ["Decrypt", "Parse", "RecordUnroutable", "Unroutable"],
        {"Decrypt": 1, "Parse": 1, "RecordUnroutable": 2},
        {"Parse": ["NoKnownRecipientError"], "RecordUnroutable": ["DynamoDB.InternalServerErrorException"]},
        clauses=_fired(UNROUTABLE, retry("RecordUnroutable")),
    ),
}
REAL_HANDLERS_CASE = "OnlyDecryptMocked"  # needs a staged email and a mailbox: its own test below


# ---------------------------------------------------------------------------------------------- running a case


@dataclass
class Run:
    """One finished execution: its ARN, description, history, and the waits its retriers asked for."""

    arn: str
    description: dict[str, Any]
    events: list[dict[str, Any]]
    waits: list[float]


def run_case(stack: LocalStack, case: str, execution_input: dict[str, Any] | None = None) -> Run:
    """Start ``<arn>#<case>``, wait (with a deadline) for it to end, read its history."""
    sfn = stack.client("stepfunctions")
    waits_before = len(stack.retry_clock.requested)  # tests run one execution at a time
    started = sfn.start_execution(
        stateMachineArn=f"{stack.info()['state_machine_arn']}#{case}",
        name=f"{case}-{uuid.uuid4().hex[:8]}",
        input=json.dumps(execution_input or _incoming("mockconfig" + "0" * 30)),
    )
    arn = started["executionArn"]

    def ended() -> dict[str, Any] | None:
        description: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        return None if description["status"] == "RUNNING" else description

    description = wait_until(ended, what=f"the end of {case}", timeout=DEADLINE)
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    return Run(arn, description, events, stack.retry_clock.requested[waits_before:])


def _incoming(message_id: str) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "bucket": "mailroom-local-incoming-123456789012-eu-west-1",
        "key": f"inbound/{message_id}",
        "received_at": "2026-11-27T10:00:00.000Z",
        "size": 2048,
    }


def entered(events: list[dict[str, Any]]) -> list[str]:
    """States entered, in order."""
    return [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]


def per_state(events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Each event paired with the state it happened in (the last one entered)."""
    state, paired = "", []
    for e in events:
        if e["type"].endswith("StateEntered"):
            state = e["stateEnteredEventDetails"]["name"]
        paired.append((state, e))
    return paired


def attempts(events: list[dict[str, Any]]) -> dict[str, int]:
    """TaskScheduled events per state: one per attempt, retries included."""
    counts: dict[str, int] = {}
    for state, e in per_state(events):
        if e["type"] == "TaskScheduled":
            counts[state] = counts.get(state, 0) + 1
    return counts


def failures(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    """TaskFailed errors per state, in order."""
    found: dict[str, list[str]] = {}
    for state, e in per_state(events):
        if e["type"] == "TaskFailed":
            found.setdefault(state, []).append(e["taskFailedEventDetails"]["error"])
    return found


def retrier(state: str, error: str) -> dict[str, Any]:
    """The ASL retrier that handles ``error`` in ``state`` (the first whose ErrorEquals matches)."""
    return next(
        r for r in ASL["States"][state]["Retry"] if error in r["ErrorEquals"] or "States.ALL" in r["ErrorEquals"]
    )


def ceiling(rule: dict[str, Any], retry: int) -> float:
    """The longest wait before retry ``retry`` (0-based): IntervalSeconds × BackoffRate^n, capped."""
    return float(min(rule["IntervalSeconds"] * rule["BackoffRate"] ** retry, rule["MaxDelaySeconds"]))


def expected_ceilings(events: list[dict[str, Any]]) -> list[float]:
    """One ceiling per retry the history shows: a TaskFailed followed by another attempt of that state."""
    paired = per_state(events)
    ceilings: list[float] = []
    retries: dict[tuple[str, int], int] = {}  # (state, id of its retrier) -> retries so far
    for i, (state, e) in enumerate(paired):
        if e["type"] != "TaskFailed":
            continue
        following = (later["type"] for _, later in paired[i + 1 :])
        nxt = next((t for t in following if t == "TaskScheduled" or t.endswith("StateEntered")), None)
        if nxt == "TaskScheduled":  # attempted again in the same state: a retry, after a wait
            rule = retrier(state, e["taskFailedEventDetails"]["error"])
            n = retries.get((state, id(rule)), 0)
            ceilings.append(ceiling(rule, n))
            retries[(state, id(rule))] = n + 1
    return ceilings


def fired(events: list[dict[str, Any]]) -> set[str]:
    """The clauses the history shows firing: each TaskFailed followed by another attempt of its state
    (the first Retry whose ErrorEquals matches, as Step Functions picks it), or by the state a Catch
    names (the first matching Catch, whose Next must be that state)."""
    paired = per_state(events)
    found: set[str] = set()
    for i, (state, e) in enumerate(paired):
        if e["type"] != "TaskFailed":
            continue
        error = e["taskFailedEventDetails"]["error"]
        following = (later for _, later in paired[i + 1 :])
        nxt = next((x for x in following if x["type"] == "TaskScheduled" or x["type"].endswith("StateEntered")), None)
        if nxt is None:
            continue  # the execution failed here
        kind = "Retry" if nxt["type"] == "TaskScheduled" else "Catch"
        index, clause = next(
            (n, c)
            for n, c in enumerate(ASL["States"][state][kind])
            if error in c["ErrorEquals"] or "States.ALL" in c["ErrorEquals"]
        )
        if kind == "Catch":
            assert clause["Next"] == nxt["stateEnteredEventDetails"]["name"], (state, error)
        found.add(f"{state}.{kind}[{index}]")
    return found


# ---------------------------------------------------------------------------------------------- the file's cases


def test_every_case_in_the_mock_file_has_an_expectation() -> None:
    assert set(CASES) == {*EXPECTED, REAL_HANDLERS_CASE}


def test_every_retry_and_catch_clause_of_the_asl_is_exercised_by_a_case() -> None:
    all_clauses = clauses(ASL)
    assert len(all_clauses) == 23  # 4 retriers and 1 Catch per step, Parse's Unroutable, 2 recorders
    exercised = {c for expected in EXPECTED.values() for c in expected.clauses}
    assert sorted(set(all_clauses) - exercised) == []  # test_mock_file_case checks each from its history
    assert sorted(exercised - set(all_clauses)) == []


def test_the_coverage_table_in_the_docs_names_each_clause_and_the_cases_that_exercise_it() -> None:
    rows = [line for line in DOC.read_text().splitlines() if re.match(r"^\| `\w+\.(Retry|Catch)\[\d+\]` \|", line)]
    assert len(rows) == len(clauses(ASL))
    documented: dict[str, set[str]] = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        clause = cells[0].strip("`")
        assert clause not in documented, f"{clause} has two rows"
        assert cells[2] == ", ".join(clauses(ASL)[clause]["ErrorEquals"]), clause
        documented[clause] = set(re.findall(r"`(\w+)`", cells[-1]))
    by_clause = {c: {name for name, e in EXPECTED.items() if c in e.clauses} for c in clauses(ASL)}
    assert documented == by_clause


@pytest.mark.parametrize("case", [c for c in CASES if c != REAL_HANDLERS_CASE])
def test_mock_file_case(mocked_stack: LocalStack, case: str) -> None:
    expected = EXPECTED[case]
    run = run_case(mocked_stack, case)

    assert entered(run.events) == expected.states
    assert attempts(run.events) == expected.attempts
    assert failures(run.events) == expected.errors
    assert fired(run.events) == expected.clauses
    # Each requested wait lies in FULL jitter's range: 0 ≤ wait ≤ min(Interval × Rate^n, MaxDelay).
    ceilings = expected_ceilings(run.events)
    assert len(run.waits) == len(ceilings)
    for wait, top in zip(run.waits, ceilings, strict=True):
        assert 0 <= wait <= top

    if expected.failed is not None:
        state, error = expected.failed
        assert run.description["status"] == "FAILED"
        assert run.events[-1]["type"] == "ExecutionFailed"
        assert run.events[-1]["executionFailedEventDetails"]["error"] == error
        # Redrivable: it failed *in* the step (no Fail state was entered), so a redrive resumes there.
        assert entered(run.events)[-1] == state
        assert not any(e["type"] == "FailStateEntered" for e in run.events)
    else:
        assert run.description["status"] == "SUCCEEDED"
        assert run.events[-1]["type"] == "ExecutionSucceeded"

    if expected.recorded is not None:
        _assert_recorded(mocked_stack, run, *expected.recorded)


def _assert_recorded(stack: LocalStack, run: Run, status: str, step: str | None, error: str) -> None:
    record_state = "RecordQuarantine" if status == "quarantined" else "RecordUnroutable"
    failing = next(s for s in reversed(entered(run.events)) if s in STEPS)
    caught_into = entered(run.events)[entered(run.events).index(failing) + 1]
    assert caught_into == (f"QuarantinedAt{failing}" if status == "quarantined" else "RecordUnroutable")
    record_input = next(
        json.loads(e["stateEnteredEventDetails"]["input"])
        for e in run.events
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == record_state
    )
    assert record_input["error"]["Error"] == error  # the Catch's ResultPath kept the error
    item = stack.client("dynamodb").get_item(
        TableName=stack.info()["tables"]["status"],
        Key={"message_id": {"S": record_input["message_id"]}},
        ConsistentRead=True,
    )["Item"]
    assert item["execution_arn"]["S"] == run.arn  # written by this execution, not an earlier case
    assert item["status"]["S"] == status
    assert item["error"]["S"] == error
    assert json.loads(item["cause"]["S"])["errorType"] == error
    if step is None:
        assert "step" not in item
    else:
        assert item["step"]["S"] == step


def test_exhausted_retries_waited_as_the_asl_says_capped_by_max_delay(mocked_stack: LocalStack) -> None:
    run = run_case(mocked_stack, "ArchiveRetriesExhausted")

    rule = retrier("Archive", "StorageUnavailableError")
    assert attempts(run.events)["Archive"] == 1 + rule["MaxAttempts"]
    assert (rule["IntervalSeconds"], rule["BackoffRate"], rule["MaxDelaySeconds"]) == (2, 2.5, 120)
    ceilings = [ceiling(rule, n) for n in range(rule["MaxAttempts"])]
    assert ceilings == [2, 5, 12.5, 31.25, 78.125, 120]  # 2 × 2.5^5 = 195.3 is capped at 120
    assert len(run.waits) == len(ceilings)
    assert all(0 <= w <= c for w, c in zip(run.waits, ceilings, strict=True))
    assert any(w < c for w, c in zip(run.waits, ceilings, strict=True))  # jittered, not the ceiling itself


def test_lambda_service_errors_back_off_on_their_own_retrier(mocked_stack: LocalStack) -> None:
    run = run_case(mocked_stack, "DecryptThrottledRecovered")

    rule = retrier("Decrypt", "Lambda.TooManyRequestsException")
    assert (rule["IntervalSeconds"], rule["BackoffRate"]) == (1, 2)
    assert len(run.waits) == 3
    assert all(0 <= w <= c for w, c in zip(run.waits, [1, 2, 4], strict=True))


# ---------------------------------------------------------------------------------------------- real handlers


def test_states_without_a_mock_run_their_real_handlers(mocked_stack: LocalStack) -> None:
    decrypted = json.loads(MOCK_FILE.read_text())["MockedResponses"]["DecryptToStagedMime"]["0"]["Return"]["Payload"]
    mime = _real_email()
    # The mock file pins the staged email's size and digest; keep them honest.
    assert decrypted["mime"]["size"] == len(mime)
    assert decrypted["mime"]["sha256"] == hashlib.sha256(mime).hexdigest()
    target = from_local(mocked_stack.info())
    ops.add_mailbox(target, "mocks@in.mailroom.localhost", user="moana")
    mocked_stack.client("s3").put_object(Bucket=decrypted["mime"]["bucket"], Key=decrypted["mime"]["key"], Body=mime)
    # What the Starter records from SES's notification before it starts the execution: the envelope.
    DynamoStatusStore(target.name("StatusTableName"), mocked_stack.client("dynamodb")).mark_received(
        decrypted["message_id"],
        received_at=decrypted["received_at"],
        execution_arn="",
        envelope=Envelope(("mocks@in.mailroom.localhost",)),
        now=decrypted["received_at"],
    )
    invoked: list[str] = []
    mocked_stack.observe(lambda invocation: invoked.append(invocation.function.name))
    try:
        run = run_case(mocked_stack, REAL_HANDLERS_CASE, _incoming(decrypted["message_id"]))
    finally:
        mocked_stack.runtime.observers.pop()

    assert run.description["status"] == "SUCCEEDED", run.description
    assert entered(run.events) == STEPS
    steps = [name for name in invoked if name.rsplit("-", 1)[-1] in {"decrypt", "parse", "archive", "inbox"}]
    assert steps == ["mailroom-local-parse", "mailroom-local-archive", "mailroom-local-inbox"]  # no Decrypt
    assert json.loads(run.description["output"]) == {
        "message_id": decrypted["message_id"],
        "status": "delivered",
        "items": 1,
        "new_items": 1,
    }
    [item] = [i for i in ops.inbox(target, "moana") if i["message_id"] == decrypted["message_id"]]
    assert item["subject"] == "Real handlers after a mocked Decrypt"
    assert [a["filename"] for a in item["attachments"]] == ["scan.pdf"]
    assert ops.email_status(target, decrypted["message_id"]) == "delivered"


def _real_email() -> bytes:
    return (
        b"From: Office Scanner <scanner@office.example>\r\n"
        b"To: mocks@in.mailroom.localhost\r\n"
        b"Subject: Real handlers after a mocked Decrypt\r\n"
        b"Message-ID: <only-decrypt-mocked@office.example>\r\n"
        b"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n'
        b"\r\n"
        b"--b1\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        b"Parse, Archive and Inbox ran for real.\r\n"
        b"--b1\r\n"
        b"Content-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="scan.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n"
        b"JVBERi0xLjQKJSBtYWlscm9vbQo=\r\n"
        b"--b1--\r\n"
    )


# ---------------------------------------------------------------------------------------------- starting a case


def test_the_execution_arn_and_name_do_not_carry_the_case(mocked_stack: LocalStack) -> None:
    run = run_case(mocked_stack, "HappyPath")

    assert run.arn.startswith(f"arn:aws:states:eu-west-1:123456789012:execution:{MACHINE}:HappyPath-")
    assert "#" not in run.arn
    assert run.description["stateMachineArn"] == mocked_stack.info()["state_machine_arn"]


def test_an_unknown_case_is_refused_at_start_naming_the_defined_ones(mocked_stack: LocalStack) -> None:
    sfn = mocked_stack.client("stepfunctions")
    with pytest.raises(ClientError) as raised:
        sfn.start_execution(stateMachineArn=f"{mocked_stack.info()['state_machine_arn']}#NoSuchCase", name="x")

    assert raised.value.response["Error"]["Code"] == "InvalidName"
    message = raised.value.response["Error"]["Message"]
    assert "'NoSuchCase'" in message
    assert "HappyPath" in message


def test_a_case_naming_a_state_the_machine_lacks_is_refused_at_start(mocked_stack: LocalStack) -> None:
    config = mocking.parse_mock_config(
        {
            "StateMachines": {MACHINE: {"TestCases": {"Typo": {"Decrpyt": "Fails"}}}},
            "MockedResponses": {"Fails": {"0": {"Throw": {"Error": "TamperedCiphertextError"}}}},
        },
        source="typo.json",
    )
    with mocking.installed(config), pytest.raises(ClientError) as raised:
        mocked_stack.client("stepfunctions").start_execution(
            stateMachineArn=f"{mocked_stack.info()['state_machine_arn']}#Typo", name="typo"
        )

    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "TestCases.Typo.Decrpyt" in raised.value.response["Error"]["Message"]


def test_sfn_mock_config_names_the_file_and_the_logical_id_names_the_machine(
    mocked_stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "team.json"
    path.write_text(
        json.dumps(
            {
                "StateMachines": {"InboundEmailStateMachine": {"TestCases": {"FromEnv": {"Decrypt": "Tampered"}}}},
                "MockedResponses": {
                    "Tampered": {"0": {"Throw": {"Error": "TamperedCiphertextError", "Cause": '{"errorType":"x"}'}}}
                },
            }
        )
    )
    monkeypatch.setenv(mocking.ENV_VAR, str(path))
    assert mocked_stack.template is not None
    with mocking.installed(aliases=mocking.state_machine_aliases(mocked_stack.template)):
        run = run_case(mocked_stack, "FromEnv")

    assert entered(run.events) == ["Decrypt", "QuarantinedAtDecrypt", *QUARANTINE]
    assert failures(run.events) == {"Decrypt": ["TamperedCiphertextError"]}


def test_the_latest_install_wins_until_it_is_undone(mocked_stack: LocalStack) -> None:
    inner = mocking.parse_mock_config(
        {
            "StateMachines": {MACHINE: {"TestCases": {"Other": {"Decrypt": "Fails"}}}},
            "MockedResponses": {"Fails": {"0": {"Throw": {"Error": "TamperedCiphertextError"}}}},
        }
    )
    uninstall = mocking.install(inner)
    try:
        with pytest.raises(ClientError, match="InvalidName"):
            run_case(mocked_stack, "HappyPath")
    finally:
        uninstall()

    assert run_case(mocked_stack, "HappyPath").description["status"] == "SUCCEEDED"  # the fixture's file again


# ---------------------------------------------------------------------------------------------- the loader


def _valid() -> dict[str, Any]:
    return {
        "StateMachines": {"M": {"TestCases": {"Case": {"Step": "Flaky"}}}},
        "MockedResponses": {
            "Flaky": {
                "0-1": {"Throw": {"Error": "StorageUnavailableError", "Cause": "503"}},
                "2": {"Return": {"StatusCode": 200, "Payload": {"ok": True}}},
            }
        },
    }


def test_the_mock_file_loads_and_builds_moto_test_cases() -> None:
    config = mocking.load_mock_config(MOCK_FILE)

    assert config.cases(MACHINE) == CASES
    moto_case = mocking.to_moto_test_case(config, MACHINE, "ArchiveRetriesExhausted")
    assert len(moto_case.state_mocked_responses["Archive"].mocked_responses) == 7  # one per attempt
    assert set(moto_case.state_mocked_responses) == {"Decrypt", "Parse", "Archive"}


def test_a_valid_config_keeps_attempt_ranges_in_order() -> None:
    config = mocking.parse_mock_config(_valid())

    first, second = config.responses["Flaky"]
    assert (first.first, first.last, first.error, first.cause) == (0, 1, "StorageUnavailableError", "503")
    assert (second.first, second.last, second.error, second.returns) == (
        2,
        2,
        None,
        {"StatusCode": 200, "Payload": {"ok": True}},
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda c: c["MockedResponses"]["Flaky"].update({"x": c["MockedResponses"]["Flaky"].pop("2")}),
            "MockedResponses.Flaky: 'x' is not an attempt number or range",
        ),
        (
            lambda c: c["MockedResponses"]["Flaky"].update({"3-2": c["MockedResponses"]["Flaky"].pop("2")}),
            "MockedResponses.Flaky: range '3-2' ends before it starts",
        ),
        (
            lambda c: c["MockedResponses"]["Flaky"].update({"3": c["MockedResponses"]["Flaky"].pop("2")}),
            "expected a range starting at 2, found one starting at 3",
        ),
        (
            lambda c: c["MockedResponses"]["Flaky"].update({"1": c["MockedResponses"]["Flaky"].pop("2")}),
            "expected a range starting at 2, found one starting at 1",
        ),
        (
            lambda c: c["StateMachines"]["M"]["TestCases"]["Case"].update({"Step": "Missing"}),
            "StateMachines.M.TestCases.Case.Step names 'Missing', which MockedResponses does not define",
        ),
        (
            lambda c: c["MockedResponses"]["Flaky"]["2"].update({"Throw": {"Error": "E"}}),
            "MockedResponses.Flaky.2 must hold exactly one of Return or Throw",
        ),
        (
            lambda c: c["MockedResponses"]["Flaky"]["0-1"]["Throw"].pop("Error"),
            "MockedResponses.Flaky.0-1.Throw.Error must be a non-empty string",
        ),
        (
            lambda c: c["MockedResponses"]["Flaky"]["0-1"]["Throw"].update({"Message": "x"}),
            "MockedResponses.Flaky.0-1.Throw: unknown key 'Message'",
        ),
        (lambda c: c.pop("MockedResponses"), "MockedResponses is missing"),
        (lambda c: c.update({"MockedResponse": {}}), "unknown top-level key 'MockedResponse'"),
        (lambda c: c["StateMachines"]["M"].update({"Cases": {}}), "StateMachines.M: unknown key 'Cases'"),
        (lambda c: c["StateMachines"]["M"]["TestCases"].update({"A#B": {}}), "'A#B' cannot follow '#'"),
    ],
    ids=[
        "range-not-a-number",
        "range-backwards",
        "range-gap",
        "range-overlap",
        "missing-response-name",
        "return-and-throw",
        "throw-without-error",
        "throw-unknown-key",
        "no-mocked-responses",
        "unknown-top-level-key",
        "unknown-state-machine-key",
        "hash-in-case-name",
    ],
)
def test_an_invalid_config_is_refused_naming_the_bad_key(mutate: Any, message: str) -> None:
    config = _valid()
    mutate(config)
    with pytest.raises(mocking.MockConfigError) as raised:
        mocking.parse_mock_config(config, source="team.json")
    assert str(raised.value).startswith("team.json: ")
    assert message in str(raised.value)


def test_an_unknown_case_or_machine_is_a_clear_error() -> None:
    config = mocking.parse_mock_config(_valid(), source="team.json")

    with pytest.raises(mocking.MockConfigError, match=r"StateMachines.M.TestCases has no 'Nope' \(it defines: Case\)"):
        config.test_case("M", "Nope")
    with pytest.raises(mocking.MockConfigError, match=r"StateMachines has no 'Other' \(it defines: M\)"):
        config.test_case("Other", "Case")


def test_a_missing_or_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(mocking.MockConfigError, match="no such mock configuration file"):
        mocking.load_mock_config(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(mocking.MockConfigError, match=r"broken\.json: not JSON"):
        mocking.load_mock_config(broken)


def test_sfn_mock_config_is_the_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(mocking.ENV_VAR, raising=False)
    assert mocking.configured_path(None) is None
    with pytest.raises(mocking.MockConfigError, match="pass a path or set SFN_MOCK_CONFIG"):
        mocking.install()

    monkeypatch.setenv(mocking.ENV_VAR, str(tmp_path / "team.json"))
    assert mocking.configured_path(None) == tmp_path / "team.json"
    assert mocking.configured_path(MOCK_FILE) == MOCK_FILE  # an explicit path wins
