"""The console's WSGI application without a socket: its gatekeeping, headers, and hostile values on its pages."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from typer.testing import CliRunner

from mailroom_cli import operations, operator
from mailroom_cli.console.app import BODY_POLICY, PAGE_POLICY, Console, Response
from mailroom_cli.console.server import ConsoleServer, allowed_hosts
from mailroom_cli.main import app
from mailroom_cli.target import Target

HOST = "127.0.0.1:8025"


def console(*, allow_replay: bool = True) -> Console:
    target = Target(region="eu-west-1", names={"StatusTableName": "s"}, endpoint_url="http://127.0.0.1:9")
    return Console(target, allowed_hosts=allowed_hosts("127.0.0.1", 8025), allow_replay=allow_replay, label="test")


def call(
    app: Console, method: str, path: str, *, host: str = HOST, body: bytes = b"", **headers: str
) -> dict[str, Any]:
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "HTTP_HOST": host,
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "wsgi.input": io.BytesIO(body),
        **{"HTTP_" + k.upper(): v for k, v in headers.items()},
    }
    answer["body"] = b"".join(app(environ, start_response))
    return answer


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8025", "127.0.0.1:8026", "", "localhost.evil:8025"])
def test_a_request_for_another_host_is_refused_before_anything_is_read(host: str) -> None:
    answer = call(console(), "GET", "/emails", host=host)
    assert answer["status"] == 421
    assert b"only to its own address" in answer["body"]


@pytest.mark.parametrize("host", ["127.0.0.1:8025", "localhost:8025", "LOCALHOST:8025"])
def test_its_own_address_is_served(host: str) -> None:
    assert call(console(), "GET", "/static/console.js", host=host)["status"] == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/mailboxes", b"address=a%40x&user=u"),
        ("/replay", b"message_id=0123456789abcdef"),
        ("/replay/preview", b"status=failed"),
        ("/email-replay/0123456789abcdef", b""),
    ],
)
def test_a_post_without_the_csrf_token_is_forbidden(path: str, body: bytes) -> None:
    answer = call(console(), "POST", path, body=body)
    assert answer["status"] == 403
    assert b"CSRF" in answer["body"]


def test_a_post_with_a_wrong_csrf_token_is_forbidden() -> None:
    answer = call(console(), "POST", "/mailboxes", body=b"csrf=guess&address=a%40x&user=u")
    assert answer["status"] == 403


def test_a_post_with_the_token_from_another_origin_is_forbidden() -> None:
    app = console()
    answer = call(app, "POST", "/mailboxes", body=f"csrf={app.csrf_token}".encode(), origin="http://evil.example")
    assert answer["status"] == 403
    assert b"another site" in answer["body"]


def test_each_console_has_its_own_token() -> None:
    assert console().csrf_token != console().csrf_token


def test_a_read_only_console_refuses_every_change_even_with_its_token() -> None:
    app = console(allow_replay=False)
    answer = call(app, "POST", "/replay", body=f"csrf={app.csrf_token}&message_id=x".encode())
    assert answer["status"] == 403
    assert b"read-only" in answer["body"]


def test_pages_carry_a_policy_without_inline_script_and_are_never_framed() -> None:
    answer = call(console(), "GET", "/no-such-page")
    assert answer["status"] == 404
    policy = answer["headers"]["Content-Security-Policy"]
    assert policy == PAGE_POLICY
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("style-src")[0]
    assert "frame-ancestors 'none'" in policy
    assert answer["headers"]["X-Content-Type-Options"] == "nosniff"
    assert answer["headers"]["Referrer-Policy"] == "same-origin"  # no-referrer would make POSTs say Origin: null


HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
ITEM = {
    "user": "alice",
    "message_id": "0123456789abcdefghijklmnopqrstuv01234567",
    "subject": HOSTILE,
    "from": HOSTILE,
    "received_at": "2026-12-02T10:00:00Z",
    "attachments": [{"filename": HOSTILE, "safe_filename": HOSTILE, "content_type": "application/pdf", "size": 3}],
}


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every operation the pages read answers with markup where an email's words go."""
    monkeypatch.setattr(operations, "inbox_item", lambda target, item_id, user=None: dict(ITEM))
    monkeypatch.setattr(operations, "item_text", lambda target, item: (HOSTILE.encode(), True))
    monkeypatch.setattr(operations, "html_with_inline_images", lambda target, item: b"<p>x")
    monkeypatch.setattr(operations, "inbox", lambda target, user: [{**ITEM, "attachments": ITEM["attachments"]}])
    monkeypatch.setattr(
        operations, "list_mailboxes", lambda target: [{"address": HOSTILE, "user": HOSTILE, "tenant": "t"}]
    )
    row = {"message_id": HOSTILE, "status": HOSTILE, "step": HOSTILE, "error": HOSTILE, "reason": HOSTILE}
    monkeypatch.setattr(operator, "list_emails", lambda target, **filters: [row])


@pytest.mark.usefixtures("hostile")
@pytest.mark.parametrize(
    "path", ["/emails", "/emails/rows", "/inboxes", "/inbox?user=x", "/item?user=alice&id=x", "/mailboxes"]
)
def test_an_emails_words_are_text_on_every_page_never_markup(path: str) -> None:
    answer = call(console(), "GET", path)
    assert answer["status"] == 200
    page = answer["body"].decode()
    assert "<img src=x" not in page
    assert "<script>alert" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page or "%3Cimg" in page  # it is there, as text


@pytest.mark.usefixtures("hostile")
def test_an_emails_html_is_served_under_a_sandbox_that_runs_no_script_and_loads_nothing_remote() -> None:
    answer = call(console(), "GET", "/item/body.html?user=alice&id=x")
    assert answer["status"] == 200
    assert answer["body"] == b"<p>x"
    policy = answer["headers"]["Content-Security-Policy"]
    assert policy == BODY_POLICY
    directives = dict(d.strip().partition(" ")[::2] for d in policy.split(";"))
    assert directives["sandbox"] == ""  # no allow-scripts, no allow-same-origin
    assert directives["default-src"] == "'none'"  # no script-src: none runs
    assert directives["img-src"] == "data:"  # nothing remote
    assert answer["headers"]["X-DNS-Prefetch-Control"] == "off"
    page = call(console(), "GET", "/item?user=alice&id=x")["body"].decode()
    assert '<iframe id="html-body" class="body" sandbox=""' in page


def test_head_is_get_without_a_body_and_a_405_says_what_is_allowed() -> None:
    app = console()
    got = call(app, "GET", "/static/console.js")
    head = call(app, "HEAD", "/static/console.js")
    assert head["status"] == 200
    assert head["body"] == b""
    assert head["headers"]["Content-Length"] == got["headers"]["Content-Length"] == str(len(got["body"]))
    refused = call(app, "DELETE", "/emails")
    assert refused["status"] == 405
    assert refused["headers"]["Allow"] == "GET, HEAD"
    assert call(app, "GET", "/replay")["headers"]["Allow"] == "POST"


def test_a_header_with_a_line_break_is_never_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    app = console()
    app._routes.insert(
        0, ("GET", "/split", lambda r, _: Response(b"", headers=[("Location", "/x\r\nSet-Cookie: a=b")]))
    )
    answer = call(app, "GET", "/split")
    assert answer["status"] == 500
    assert "Set-Cookie" not in answer["headers"]
    assert "Location" not in answer["headers"]


@pytest.mark.parametrize("reference", ["arn:x%0d%0aSet-Cookie:a=b", "arn:aws:states:eu-west-1:1:execution:m:n"])
def test_only_a_message_id_names_an_email_in_a_form(reference: str) -> None:
    app = console()
    for path, body in ((f"/email-replay/{reference}", b""), ("/replay", f"message_id={reference}".encode())):
        answer = call(app, "POST", path, body=f"csrf={app.csrf_token}&".encode() + body)
        assert answer["status"] == 404
        assert "Location" not in answer["headers"]


def test_a_confirmed_replay_replans_each_previewed_email_with_the_restart_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[list[str], bool]] = []

    def replay(target: Target, ids: list[str], *, restart: bool = False, **kwargs: Any) -> list[dict[str, Any]]:
        asked.append((ids, restart))
        assert not kwargs.get("dry_run")
        return [{"message_id": ids[0], "action": "skipped" if ids[0].startswith("d") else "restart", "reason": "r"}]

    monkeypatch.setattr(operator, "replay", replay)
    app = console()
    first, delivered = "a" * 40, "d" * 40  # the second was delivered since the preview
    body = f"csrf={app.csrf_token}&message_id={first}&message_id={delivered}&message_id={first}&restart=1"
    answer = call(app, "POST", "/replay", body=body.encode())
    assert answer["status"] == 200
    assert asked == [([first], True), ([delivered], True)]  # each once, each planned again
    page = answer["body"].decode()
    assert f'data-id="{first}" data-action="restart"' in page
    assert f'data-id="{delivered}" data-action="skipped"' in page


def test_a_wrong_method_is_405_and_an_unknown_static_file_404() -> None:
    app = console()
    assert call(app, "GET", "/static/../app.py")["status"] == 404


def test_the_script_and_stylesheet_are_served_from_the_package() -> None:
    app = console()
    script = call(app, "GET", "/static/console.js")
    assert script["headers"]["Content-Type"].startswith("text/javascript")
    assert b"data-refresh" in script["body"]
    assert b"://" not in script["body"]  # nothing remote
    assert call(app, "GET", "/static/console.css")["headers"]["Content-Type"].startswith("text/css")


@pytest.mark.parametrize(
    ("query", "message"),
    [("since=0s", b"no window"), ("since=1x", b"not a duration"), ("status=lost", b"status must be one of")],
)
def test_filters_are_checked_as_the_cli_checks_them(query: str, message: bytes) -> None:
    answer = call(console(), "GET", "/emails?" + query)
    assert answer["status"] == 400
    assert message in answer["body"]


def test_the_emails_page_shows_the_newest_rows_and_says_how_many_it_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [
        {"message_id": f"{n:040d}", "status": "delivered", "received_at": "2026-12-02T10:00:00Z", "latency_ms": 5}
        for n in range(600)
    ]
    monkeypatch.setattr(operator, "list_emails", lambda target, **filters: rows)
    page = call(console(), "GET", "/emails")["body"].decode()
    assert page.count('<tr data-id="') == 500
    assert "Showing the newest 500 of 600" in page
    assert 'data-every="1000"' in page


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_a_console_on_every_interface_is_refused_in_one_line(host: str) -> None:
    target = Target(region="eu-west-1", names={}, endpoint_url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="bind the console to one address"):
        ConsoleServer(target, host=host, port=0)


def test_the_console_command_refuses_every_interface_without_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["console", "--host", "0.0.0.0"], env={"MAILROOM_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "mailroom: bind the console to one address, not 0.0.0.0: e.g. --host 127.0.0.1"
    ]


@pytest.fixture
def archived_item() -> Iterator[tuple[Target, dict[str, Any]]]:
    """An inbox item whose one attachment is archived (moto, in process) with a recorded SHA-256."""
    with mock_aws():
        target = Target(region="eu-west-1", names={"ArchiveBucketName": "archive"})
        s3 = target.client("s3")
        s3.create_bucket(Bucket="archive", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_object(Bucket="archive", Key="messages/m/a", Body=b"%PDF-1.4 whole")
        attachment = {
            "safe_filename": "scan.pdf",
            "content_type": "application/pdf",
            "key": "messages/m/a",
            "sha256": hashlib.sha256(b"%PDF-1.4 whole").hexdigest(),
        }
        yield target, {"user": "alice", "message_id": "m" * 40, "attachments": [attachment]}


def test_an_attachment_is_handed_out_only_whole(archived_item: tuple[Target, dict[str, Any]], tmp_path: Path) -> None:
    target, item = archived_item
    name, spool = operations.verified_attachment(target, item, 1)
    assert (name, spool.read()) == ("scan.pdf", b"%PDF-1.4 whole")
    target.client("s3").put_object(Bucket="archive", Key="messages/m/a", Body=b"%PDF-1.4 whole, then changed")
    with pytest.raises(operations.DamagedArchiveError, match="do not match the recorded SHA-256"):
        operations.verified_attachment(target, item, 1)
    with pytest.raises(operations.DamagedArchiveError):
        operations.save_attachments(target, item, tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-saved


def test_the_console_answers_502_for_a_damaged_attachment(monkeypatch: pytest.MonkeyPatch) -> None:
    def damaged(target: Target, item: dict[str, Any], number: int) -> Any:
        raise operations.DamagedArchiveError("scan.pdf: the archived bytes do not match the recorded SHA-256")

    monkeypatch.setattr(operations, "inbox_item", lambda target, item_id, user=None: dict(ITEM))
    monkeypatch.setattr(operations, "verified_attachment", damaged)
    answer = call(console(), "GET", "/item/attachment?user=alice&id=x&n=1")
    assert answer["status"] == 502
    assert b"do not match the recorded SHA-256" in answer["body"]
    assert "Content-Disposition" not in answer["headers"]
