"""The emulator's own AWS calls are served in process; the handlers' still reach moto over HTTP.

What is service-internal on AWS (SES storing and announcing an email, Lambda's SQS poller, the Step
Functions interpreter invoking tasks, EventBridge's status-change events) skips the socket
(transport.py), signed as before, so local IAM still decides it. Every request moto answers is
recorded with how it arrived (the in-process transport names itself in ``SERVER_SOFTWARE``) and who
signed it. One stack at a time (moto's state is the process's): each test starts its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from local_stack import LOOPBACK, final_status, running_stack, send_scan, template_without, wait_until
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from mailroom_cli import operations as ops
from mailroom_cli.local import transport
from mailroom_cli.local.stack import FAKE_CREDENTIALS, LocalStack
from mailroom_cli.target import Target, from_local

pytestmark = pytest.mark.allow_hosts(LOOPBACK)

IN_PROCESS, HTTP = "in process", "http"
ADMINISTRATOR = "administrator"
PIPELINE = ("Starter", "Decrypt", "Parse", "Archive", "Inbox")


@dataclass(frozen=True)
class Call:
    """One request moto answered."""

    served: str  # IN_PROCESS or HTTP
    service: str  # the signing service: s3, sqs, lambda, states, ...
    action: str  # the API action (for S3, the HTTP method)
    access_key: str
    status: int


def _call(environ: dict[str, Any], status: int) -> Call:
    scope = environ.get("HTTP_AUTHORIZATION", "").partition("Credential=")[2].partition(",")[0].split("/")
    service = scope[3] if len(scope) > 3 else ""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    body = environ["wsgi.input"].getvalue() if hasattr(environ["wsgi.input"], "getvalue") else b""
    if target:
        action = target.rpartition(".")[2]
    elif service == "lambda" and environ["PATH_INFO"].endswith("/invocations"):
        action = "Invoke"
    elif service == "s3":
        action = environ["REQUEST_METHOD"]
    else:
        action = parse_qs(body.decode("latin1")).get("Action", [""])[0]
    served = IN_PROCESS if environ.get("SERVER_SOFTWARE") == transport.SERVER_SOFTWARE else HTTP
    return Call(served, service, action, scope[0], status)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Every request moto's application answers while the test runs, HTTP or in process."""
    recorded: list[Call] = []
    original = DomainDispatcherApplication.__call__

    def recording(app: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
        statuses: list[int] = []

        def started(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(int(status.split(" ", 1)[0]))
            return start_response(status, headers, exc_info)

        result = original(app, environ, started)
        recorded.append(_call(environ, statuses[0] if statuses else 0))
        return result

    monkeypatch.setattr(DomainDispatcherApplication, "__call__", recording)
    return recorded


def _signers(stack: LocalStack) -> Callable[[Call], str]:
    """Who signed a call: a function's name, the state machine's, or the administrator."""
    assert stack.identities is not None
    names = {s.access_key_id: s.function for s in stack.identities.sessions.values()}
    if stack.identities.state_machine is not None:
        names[stack.identities.state_machine.access_key_id] = stack.identities.state_machine.function
    names[FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"]] = ADMINISTRATOR
    return lambda call: names.get(call.access_key, call.access_key)


def _send(stack: LocalStack, to: str) -> str:
    return send_scan(stack, to, "internal calls")


def test_an_emails_service_internal_calls_skip_http_and_its_handlers_calls_do_not(
    tmp_path: Path, calls: list[Call]
) -> None:
    with running_stack(tmp_path) as stack:
        window = _calls_while_one_email_is_delivered(stack, from_local(stack.info()), calls)
        signer = _signers(stack)
        assert stack.identities is not None
        assert stack.identities.state_machine is not None
        machine = stack.identities.state_machine.function
        starter, *steps = (stack.runtime.by_step(step).name for step in PIPELINE)

    in_process = {(c.service, c.action, signer(c)) for c in window if c.served == IN_PROCESS}
    over_http = [(c.service, c.action, signer(c)) for c in window if c.served == HTTP]
    # SES, Lambda's poller (under the Starter's role), the interpreter (under the machine's), EventBridge.
    assert {
        ("s3", "PUT", ADMINISTRATOR),
        ("kms", "GenerateDataKey", ADMINISTRATOR),
        ("sns", "Publish", ADMINISTRATOR),
        ("sqs", "ReceiveMessage", starter),
        ("sqs", "DeleteMessageBatch", starter),
        ("lambda", "Invoke", ADMINISTRATOR),
        ("lambda", "Invoke", machine),
        ("states", "ListExecutions", ADMINISTRATOR),
    } <= in_process
    assert {who for _, _, who in in_process} <= {ADMINISTRATOR, machine, starter}
    assert {service for service, _, who in in_process if who == starter} == {"sqs"}  # the Starter's code: HTTP
    # Over HTTP: the handlers' own calls, each under its function's role, and nothing else.
    assert ("states", "StartExecution", starter) in over_http
    assert {who for _, _, who in over_http} == {starter, *steps}


def _calls_while_one_email_is_delivered(stack: LocalStack, target: Target, calls: list[Call]) -> list[Call]:
    """The requests from an email's SMTP DATA until a status-change watcher round after its Inbox step."""
    mailbox = f"internal@{target.name('RecipientDomain')}"
    ops.add_mailbox(target, mailbox, user="ina")
    inbox_done = threading.Event()
    stack.observe(lambda call: inbox_done.set() if call.function.logical_id == "InboxFunction" else None)
    calls.clear()
    message_id = _send(stack, mailbox)  # from here on the test makes no AWS call until the window closes
    wait_until(inbox_done.is_set, what="the Inbox step")
    after_inbox = len(calls)
    wait_until(
        lambda: any(c.action == "ListExecutions" for c in calls[after_inbox:]), what="a status-change watcher round"
    )
    window = list(calls)
    assert final_status(target, message_id) == "delivered"
    return window


def test_a_service_internal_call_the_role_does_not_allow_is_still_refused(tmp_path: Path, calls: list[Call]) -> None:
    template = template_without(tmp_path, "StarterFunction", "ReadIncomingQueue")
    with running_stack(tmp_path, template=template) as stack:
        starter = stack.runtime.by_step("Starter").name
        signer = _signers(stack)

        refused = wait_until(
            lambda: [c for c in calls if c.action == "ReceiveMessage" and c.status == 403],
            what="the poller's ReceiveMessage to be refused",
        )

        assert {(c.served, signer(c)) for c in refused} == {(IN_PROCESS, starter)}
        assert stack.identities is not None
        assert any(d.startswith(f"{starter}: sqs:ReceiveMessage") for d in stack.identities.denials)
        assert not [c for c in calls if signer(c) == starter and c.served == HTTP]  # no email got that far
