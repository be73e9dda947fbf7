"""The local stack's in-process transport: the environ moto's server would have built, and its switch."""

from __future__ import annotations

import pytest
from botocore.awsrequest import AWSPreparedRequest

from mailroom_cli.local import transport


def request(url: str, headers: dict[str, str], body: bytes = b"", method: str = "PUT") -> AWSPreparedRequest:
    return AWSPreparedRequest(method=method, url=url, headers=headers, body=body, stream_output=False)


def test_the_environ_is_the_one_werkzeugs_server_builds_for_moto() -> None:
    sent = request(
        "http://127.0.0.1:4566/bucket/a%20key%C3%A9?uploads=&x=1",
        {"Content-Type": "text/plain", "X-Amz-Meta-Under_Score": "v", "X_Spoofed": "no", "Content-Length": "3"},
        b"abc",
    )

    environ = transport.environ_for(sent, b"abc", "127.0.0.1", 4566)

    assert environ["PATH_INFO"] == "/bucket/a keyé".encode().decode("latin1")  # unquoted, WSGI's latin-1
    assert environ["QUERY_STRING"] == "uploads=&x=1"
    assert environ["HTTP_HOST"] == "127.0.0.1:4566"
    assert (environ["CONTENT_TYPE"], environ["CONTENT_LENGTH"]) == ("text/plain", "3")
    assert environ["HTTP_X_AMZ_META_UNDER_SCORE"] == "v"  # S3 metadata keeps its underscores, as moto's handler does
    assert environ["moto.preserved_header_names"] == {"HTTP_X_AMZ_META_UNDER_SCORE": "X-Amz-Meta-Under_Score"}
    assert "HTTP_X_SPOOFED" not in environ  # any other underscored header is dropped, as werkzeug does
    assert environ["wsgi.input"].read() == b"abc"


def test_a_body_without_a_length_header_gets_one() -> None:
    environ = transport.environ_for(request("http://localhost:4566/", {}, b"12345", "POST"), b"12345", "h", 1)

    assert environ["CONTENT_LENGTH"] == "5"


@pytest.mark.parametrize(
    ("value", "expected"), [(None, False), ("inprocess", True), (" InProcess ", True), ("http", False), ("x", False)]
)
def test_http_is_the_default_and_the_in_process_transport_is_asked_for(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool
) -> None:
    if value is None:
        monkeypatch.delenv(transport.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(transport.ENV_VAR, value)

    assert transport.enabled() is expected
