"""The listener's DATA reader (large reads to the next ``.CRLF``) against aiosmtpd's own (one read per line).

Both servers get the same bytes on the wire; the content handed to the handler and every reply must
be the same, for the cases where a per-line reader and a bulk one could differ.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from mailroom_cli.local.smtp import _SesSmtp

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

LIMIT = 2_000


class _Capture:
    def __init__(self) -> None:
        self.contents: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.contents.append(bytes(envelope.content))
        return "250 OK"


class _Plain(_SesSmtp):
    """The listener's server (replies reworded alike) with aiosmtpd's own DATA."""

    smtp_DATA = SMTP.smtp_DATA


@contextmanager
def _server(smtp_class: type[SMTP], stream_limit: int | None) -> Iterator[tuple[int, _Capture]]:
    capture = _Capture()

    class Server(smtp_class):  # type: ignore[valid-type,misc]
        if stream_limit is not None:
            line_length_limit = stream_limit

    class Listener(Controller):
        def factory(self) -> SMTP:
            return Server(self.handler, data_size_limit=LIMIT, enable_SMTPUTF8=False)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Listener(capture, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, capture
    finally:
        controller.stop()


def _converse(port: int, data: bytes) -> list[bytes]:
    """One session sending ``data`` raw after DATA (the terminator included in ``data``); the replies."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        reader = conn.makefile("rb")
        replies = [reader.readline()]

        def command(line: bytes) -> None:
            conn.sendall(line)
            while True:
                reply = reader.readline()
                replies.append(reply)
                if reply[3:4] != b"-":
                    return

        command(b"HELO test\r\n")
        command(b"MAIL FROM:<a@example.org>\r\n")
        command(b"RCPT TO:<b@example.org>\r\n")
        command(b"DATA\r\n")
        conn.sendall(data)
        replies.append(reader.readline())
        command(b"NOOP\r\n")  # the session goes on after DATA, whatever its outcome
        command(b"QUIT\r\n")
    return replies


CASES = {
    "empty": b".\r\n",
    "one line": b"hello\r\n.\r\n",
    "a dot-stuffed line and a lone stuffed dot": b"a\r\n..b\r\n..\r\n...\r\nc.\r\n.\r\n",
    "a first line that starts with a dot": b"..first\r\nx\r\n.\r\n",
    "lines that end in a dot": b"end.\r\nmore.\r\n x .\r\n.\r\n",
    "bare LF around dots": b"a\n.\r\nb\n..\n.\r\n\r\n.\r\n",
    "a bare LF dot line is not the end": b"x\r\n.\n.\r\n.\r\n",
    "just at the limit": b"y" * (LIMIT - 2) + b"\r\n.\r\n",
    "one over the limit": b"y" * (LIMIT - 1) + b"\r\n.\r\n",
    "many lines over the limit": b"line of text\r\n" * 400 + b".\r\n",
}


@pytest.mark.parametrize("stream_limit", [None, 64], ids=["stream limit of the listener", "tiny stream limit"])
@pytest.mark.parametrize("name", list(CASES))
def test_data_gives_the_same_content_and_replies_as_aiosmtpd(name: str, stream_limit: int | None) -> None:
    data = CASES[name]
    with _server(_Plain, stream_limit) as (port, theirs), _server(_SesSmtp, stream_limit) as (our_port, ours):
        expected = _converse(port, data)
        got = _converse(our_port, data)
    assert got == expected
    assert ours.contents == theirs.contents
