"""The CLI against a "deployed" stack: names from CloudFormation outputs (moto), not the local stack."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from deployed_stack import DELIVERED, FAILED, populate
from moto import mock_aws
from typer.testing import CliRunner

from mailroom_cli.console.app import Console
from mailroom_cli.main import app
from mailroom_cli.target import from_stack

REGION = "eu-west-1"
MID = DELIVERED
OTHER = FAILED


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    monkeypatch.setenv("MAILROOM_STATE_DIR", str(tmp_path))  # no local stack to fall back on
    with mock_aws():
        populate(boto3.client("dynamodb", region_name=REGION), boto3.client("cloudformation", region_name=REGION))
        yield


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, ["--stack", "mailroom-prod", "--region", REGION, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.usefixtures("deployed")
def test_emails_and_stats_read_the_stacks_status_table() -> None:
    rows = cli("emails", "--json")
    assert {(r["message_id"], r["status"]) for r in rows} == {(MID, "delivered"), (OTHER, "failed")}
    assert next(r for r in rows if r["message_id"] == MID)["latency_ms"] == 2000  # received → delivered
    assert cli("emails", "--status", "failed", "--json") == [
        {
            "message_id": OTHER,
            "status": "failed",
            "step": "Archive",
            "error": "StorageUnavailableError",
            "reason": "storage_unavailable",
            "execution_arn": None,
            "received_at": "2026-11-27T10:00:00.000+00:00",
            "updated_at": "2026-11-27T10:00:00.000+00:00",
            "recipients": 0,
            "unroutable_recipients": 0,
            "routed_by": None,
            "delivered_at": None,
            "latency_ms": None,
            "replays": 0,
        }
    ]
    stats = cli("stats", "--since", "3650d", "--json")
    assert stats["received"] == 2
    assert stats["delivered"] == 1
    assert stats["failed"] == {"Archive": {"StorageUnavailableError": 1}}
    assert stats["in_flight"] == 0
    assert stats["latency_ms"] == {"p50": 2000.0, "p95": 2000.0}


@pytest.mark.usefixtures("deployed")
def test_mailboxes_are_registered_in_the_stacks_table_and_checked_against_its_domain() -> None:
    assert cli("mailbox", "add", "Scans@in.example.com", "--user", "alice", "--json") == [
        {"address": "scans@in.example.com", "user": "alice", "tenant": "default"}
    ]
    assert cli("mailbox", "list", "--json") == [
        {"address": "scans@in.example.com", "user": "alice", "tenant": "default"}
    ]
    wrong = CliRunner().invoke(
        app, ["--stack", "mailroom-prod", "--region", REGION, "mailbox", "add", "x@elsewhere.example", "--user", "u"]
    )
    assert wrong.exit_code == 1
    assert "recipient domain in.example.com" in wrong.output


@pytest.mark.usefixtures("deployed")
def test_the_console_reads_a_deployed_stack_read_only() -> None:
    target = from_stack("mailroom-prod", profile=None, region=REGION, endpoint_url=None)
    console = Console(target, allowed_hosts={"127.0.0.1:8025"}, allow_replay=False, label="mailroom-prod")

    def get(path: str, method: str = "GET", body: bytes = b"") -> tuple[int, str]:
        answered: list[int] = []
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path.partition("?")[0],
            "QUERY_STRING": path.partition("?")[2],
            "HTTP_HOST": "127.0.0.1:8025",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        page = b"".join(console(environ, lambda status, headers: answered.append(int(status.split()[0]))))
        return answered[0], page.decode()

    status, page = get("/emails?status=failed")
    assert status == 200
    assert f'<tr data-id="{OTHER}" data-status="failed">' in page
    assert f'data-id="{MID}"' not in page
    assert "mailroom-prod · read-only" in page
    assert "Replay these" not in page  # no replay form on a read-only console
    status, page = get(f"/email/{OTHER}")
    assert status == 200
    assert "StorageUnavailableError" in page
    assert "No graph (DescribeStateMachine: StateMachineDoesNotExist)" in page  # the rest is still shown
    assert 'id="replay-one"' not in page
    status, page = get("/replay", "POST", f"csrf={console.csrf_token}&message_id={OTHER}".encode())
    assert status == 403
    assert "read-only" in page
