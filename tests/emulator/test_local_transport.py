"""The in-process transport: the environ moto's server would have built, which clients it serves, its switch."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.config import Config
from botocore.exceptions import HTTPClientError

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


class RecordingApp:
    """A WSGI app answering every request 200 with an empty body, remembering each environ."""

    def __init__(self) -> None:
        self.environs: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.environs.append(environ)
        start_response("200 OK", [("Content-Type", "application/xml"), ("ETag", '"e"')])
        return [b""]


def _s3(endpoint_url: str, addressing_style: str = "auto") -> Any:
    return boto3.session.Session().client(
        "s3",
        region_name="eu-west-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="ak",
        aws_secret_access_key="sk",
        config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": addressing_style}),
    )


@pytest.fixture
def app() -> Iterator[RecordingApp]:
    app = RecordingApp()
    uninstall = transport.install(app, "127.0.0.1", PORT)
    yield app
    uninstall()


PORT = 4599


def test_an_internal_clients_request_is_served_in_process_even_on_a_bucket_subdomain(app: RecordingApp) -> None:
    client = transport.internal(_s3(f"http://localhost:{PORT}", addressing_style="virtual"))

    client.put_object(Bucket="incoming", Key="inbound/m-1", Body=b"x")

    (environ,) = app.environs
    assert environ["HTTP_HOST"] == f"incoming.localhost:{PORT}"  # the bucket in the host, as on the wire
    assert environ["PATH_INFO"] == "/inbound/m-1"
    assert environ["SERVER_SOFTWARE"] == transport.SERVER_SOFTWARE
    assert "Credential=ak/" in environ["HTTP_AUTHORIZATION"]  # signed as the client's own identity
    assert transport.is_internal(client)


NO_SOCKETS = pytest.mark.filterwarnings("ignore:A test tried to use socket:UserWarning")


@NO_SOCKETS
def test_any_other_client_of_the_process_still_goes_over_http(app: RecordingApp) -> None:
    client = _s3(f"http://127.0.0.1:{PORT}")

    with pytest.raises(HTTPClientError):  # unit tests have no sockets: HTTP cannot even connect
        client.put_object(Bucket="incoming", Key="inbound/m-1", Body=b"x")

    assert app.environs == []
    assert not transport.is_internal(client)


def test_every_client_is_served_in_process_when_the_whole_process_opt_in_asks() -> None:
    app = RecordingApp()
    uninstall = transport.install(app, "127.0.0.1", PORT, every_client=True)
    try:
        _s3(f"http://127.0.0.1:{PORT}").put_object(Bucket="incoming", Key="k", Body=b"x")
    finally:
        uninstall()

    assert len(app.environs) == 1


@NO_SOCKETS
def test_an_internal_client_whose_endpoint_no_stack_serves_uses_http(app: RecordingApp) -> None:
    client = transport.internal(_s3(f"http://127.0.0.1:{PORT + 1}"))

    with pytest.raises(HTTPClientError):
        client.put_object(Bucket="incoming", Key="k", Body=b"x")

    assert app.environs == []
