"""The CLI against a running local stack: `--json` keys are an interface (DESIGN §7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from local_stack import LOOPBACK, final_status
from typer.testing import CliRunner

from mailroom_cli.local.samples import pdf
from mailroom_cli.local.stack import LocalStack
from mailroom_cli.main import app
from mailroom_cli.main import run as main_run
from mailroom_cli.target import Target

pytestmark = pytest.mark.allow_hosts(LOOPBACK)


@pytest.fixture(autouse=True)
def cli_finds_the_stack(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    assert stack.options.state_file is not None
    monkeypatch.setenv("MAILROOM_STATE_DIR", str(stack.options.state_file.parent))


def run(*args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def test_local_info_names_everything_a_script_needs(stack: LocalStack) -> None:
    info = json.loads(run("local", "info", "--json").stdout)
    assert set(info) >= {
        "endpoint_url", "region", "account_id", "smtp", "domain", "incoming_bucket", "incoming_prefix",
        "kms_key_arn", "receipt_rule_name", "queue_url", "dlq_url", "state_machine_arn", "tables", "buckets",
    }  # fmt: skip
    assert set(info["tables"]) == {"mailboxes", "inbox", "status"}
    assert set(info["buckets"]) == {"incoming", "staging", "archive"}
    assert info["endpoint_url"] == stack.endpoint_url
    assert info["incoming_prefix"] == "inbound/"
    assert info["region"] == "eu-west-1"


def test_mailbox_send_inbox_get_and_raw_from_the_command_line(
    stack: LocalStack, target: Target, tmp_path: Path
) -> None:
    domain = target.name("RecipientDomain")
    added = json.loads(run("mailbox", "add", f"Paper@{domain}", "--user", "paula", "--tenant", "t1", "--json").stdout)
    assert added == [{"address": f"paper@{domain}", "user": "paula", "tenant": "t1"}]
    assert {"address": f"paper@{domain}", "user": "paula", "tenant": "t1"} in json.loads(
        run("mailbox", "list", "--json").stdout
    )
    run("mailbox", "add", "someone@other.example", "--user", "x", code=1)  # not our domain
    moved = run("mailbox", "add", f"PAPER@{domain}", "--user", "mallory", code=1)  # another user's, any case
    assert "already feeds user paula" in moved.output
    run("mailbox", "add", f"paper@{domain}", "--user", "paula", "--tenant", "t1")  # the same again: fine
    run("mailbox", "add", f"blank@{domain}", "--user", " ", code=1)
    run("mailbox", "add", f"moved@{domain}", "--user", "paula", "--tenant", "t1")
    run("mailbox", "add", f"moved@{domain}", "--user", "otto", "--force")
    assert {"address": f"moved@{domain}", "user": "otto", "tenant": "default"} in json.loads(
        run("mailbox", "list", "--json").stdout
    )

    document = tmp_path / "contract.pdf"
    document.write_bytes(pdf(2, seed=3))
    sent = run("send", "--to", f"paper@{domain}", "--subject", "Contract", "--attach", str(document))
    message_id = sent.stdout.strip()
    assert final_status(target, message_id) == "delivered"

    items = json.loads(run("inbox", "paula", "--json").stdout)
    assert [set(i) >= {"id", "message_id", "subject", "from", "received_at", "attachments"} for i in items] == [True]
    assert items[0]["attachments"] == [
        {
            "filename": "contract.pdf",
            "safe_filename": "contract.pdf",
            "content_type": "application/pdf",
            "size": document.stat().st_size,
            "sha256": items[0]["attachments"][0]["sha256"],
        }
    ]
    saved = json.loads(run("inbox", "get", items[0]["id"], "--save", str(tmp_path / "out"), "--json").stdout)
    assert [Path(p).name for p in saved] == ["contract.pdf", "body.txt"]  # the text body beside the files
    assert Path(saved[0]).read_bytes() == document.read_bytes()
    assert Path(saved[1]).read_text().strip() == "Sent with mailroom send."
    # Again into the same directory, by a prefix of the id: nothing is overwritten.
    again = json.loads(run("inbox", "get", message_id[:8], "--save", str(tmp_path / "out"), "--json").stdout)
    assert [Path(p).name for p in again] == ["contract (2).pdf", "body (2).txt"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(Path(p).name for p in saved + again)

    raw = tmp_path / "raw.eml"
    run("raw", message_id[:10], "-o", str(raw))
    text = raw.read_bytes()
    assert text.startswith(b"Return-Path: <")  # SES's trace headers come first
    assert b"Subject: Contract" in text


def test_commands_without_a_running_stack_say_how_to_start_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MAILROOM_STATE_DIR", str(tmp_path))
    result = run("inbox", "anyone", code=1)
    assert "mailroom local up" in result.output


def test_local_fail_and_heal_reach_the_running_stack(stack: LocalStack, target: Target) -> None:
    domain = target.name("RecipientDomain")
    run("mailbox", "add", f"faults@{domain}", "--user", "fay")
    run("local", "fail", "Archive", "--times", "1", "--error", "StorageUnavailableError")
    message_id = run("send", "--to", f"faults@{domain}", "--subject", "once").stdout.strip()
    assert final_status(target, message_id) == "delivered"
    timeline = json.loads(run("history", message_id, "--json").stdout)
    archive = next(s for s in timeline["states"] if s["state"] == "Archive")
    assert archive["attempts"] == 2
    assert [e["error"] for e in archive["errors"]] == ["StorageUnavailableError"]
    assert archive["waited_ms"] >= 0  # the Retry's backoff (compressed 1000x here) between the two attempts
    assert "waited_ms" not in next(s for s in timeline["states"] if s["state"] == "Decrypt")

    run("local", "fail", "Parse", "--error", "NoSuchError", code=2)
    refused = run("local", "fail", "Parse", "--times", "0", code=2)  # "0 attempts" would mean "until healed"
    assert "at least 1" in refused.output
    assert "Traceback" not in refused.output
    run("local", "fail", "Parse")
    run("local", "heal")
    healed = run("send", "--to", f"faults@{domain}", "--subject", "healed").stdout.strip()
    assert final_status(target, healed) == "delivered"


def mailroom(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    """The console entry point (``mailroom_cli.main:run``) as a shell runs it: (exit code, stdout, stderr)."""
    monkeypatch.setattr("sys.argv", ["mailroom", *argv])
    code = 0
    try:
        main_run()
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["replay", "--failed", "--since", "1x"], 2, "not a duration"),
        (["emails", "--since", "0s"], 2, "above zero"),
        (["local", "heal", "Bogus"], 2, "Bogus"),
        (["local", "fail", "Archive", "--times", "0"], 2, "at least 1"),
        (["raw", "0" * 40, "-o", "/nonexistent-dir/x.eml"], 1, "NoSuchKey"),
        (["history", "not-an-id"], 1, "neither an SES message id nor a prefix"),
        (["history", "012"], 1, "6+ of"),
    ],
)
def test_cli_errors_are_one_line_with_their_exit_code_and_no_traceback(
    argv: list[str], code: int, says: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    exit_code, _, err = mailroom(argv, capsys, monkeypatch)

    assert exit_code == code, err
    lines = err.strip().splitlines()
    assert len(lines) >= 1
    assert says in err
    assert "Traceback" not in err


def test_replay_of_an_unknown_id_is_skipped_and_nothing_failed_is_an_empty_json_list(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = mailroom(["replay", "v" * 40, "--json"], capsys, monkeypatch)
    assert code == 0, err
    assert json.loads(out) == [
        {"message_id": "v" * 40, "action": "skipped", "reason": "no such email: no status record under this id"}
    ]

    code, out, err = mailroom(["replay", "--failed", "--step", "NoSuchStep", "--json"], capsys, monkeypatch)
    assert code == 0, err
    assert json.loads(out) == []
