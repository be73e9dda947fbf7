"""In-process transport: boto3 calls made *inside* the stack's process reach moto's WSGI app without a socket.

Everything in the stack's process talks to moto through real boto3 clients: the handlers, the SQS
pollers, the SMTP listener, moto's own Step Functions interpreter invoking Lambda. Over loopback
HTTP each call also paid for a TCP round trip, ``http.server`` parsing, werkzeug's request handler
and a server thread, on both sides of one GIL: about half of the stack's CPU per email
(docs/benchmarks.md). Here botocore's last step, ``Endpoint._send``, hands a request addressed to
the stack's endpoint straight to the same WSGI application the moto server runs (moto's
``DomainDispatcherApplication``), with the environ werkzeug's development server would build,
and wraps the answer in the ``AWSResponse`` botocore parses. What a call does is unchanged: the
client serialises, signs, retries and parses as ever, and moto's Flask apps answer as ever.
Processes outside (the CLI, the console, a test's own clients started before the stack) still use HTTP.

Off by default: the local twin talks to moto over real HTTP on loopback, as the project's standards
ask ("real moto services over HTTP in local mode"). ``MAILROOM_LOCAL_TRANSPORT=inprocess`` turns it
on for load runs where the emulator's own socket cost would drown what is measured
(docs/benchmarks.md gives figures both ways).
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any, cast
from urllib.parse import unquote_to_bytes, urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.endpoint import Endpoint
from urllib3 import HTTPHeaderDict

log = logging.getLogger(__name__)

ENV_VAR = "MAILROOM_LOCAL_TRANSPORT"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_lock = threading.Lock()
_routes: dict[str, tuple[WsgiApp, str, int]] = {}  # "http://host:port" -> (app, host, port)
_original_send: Callable[[Endpoint, AWSPreparedRequest], AWSResponse] | None = None


def enabled() -> bool:
    """True only when ``$MAILROOM_LOCAL_TRANSPORT`` asks for ``inprocess`` (HTTP is the default)."""
    return os.environ.get(ENV_VAR, "http").strip().lower() == "inprocess"


def install(app: WsgiApp, host: str, port: int) -> Callable[[], None]:
    """Serve requests for ``http://{host}:{port}`` (and ``localhost``) from ``app``; returns the undo function."""
    global _original_send
    origins = {f"http://{h}:{port}" for h in (host, "localhost", "127.0.0.1")}
    with _lock:
        if _original_send is None:
            _original_send = getattr(Endpoint, "_send")  # noqa: B009 - private, and untyped in the stubs
            setattr(Endpoint, "_send", _send)  # noqa: B010 - botocore's transport, replaced in this process only
        for origin in origins:
            _routes[origin] = (app, host, port)

    def uninstall() -> None:
        global _original_send
        with _lock:
            for origin in origins:
                _routes.pop(origin, None)
            if not _routes and _original_send is not None:
                setattr(Endpoint, "_send", _original_send)  # noqa: B010
                _original_send = None

    return uninstall


def _send(endpoint: Endpoint, request: AWSPreparedRequest) -> AWSResponse:
    parts = urlsplit(request.url)
    route = _routes.get(f"{parts.scheme}://{parts.netloc}")
    if route is None:
        assert _original_send is not None  # routes exist only while installed
        return _original_send(endpoint, request)
    app, host, port = route
    return _call(app, request, host, port)


def _body(request: AWSPreparedRequest) -> bytes:
    body = request.body
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    data = body.read()  # a file-like body (S3 uploads): what urllib3 would have streamed
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def environ_for(request: AWSPreparedRequest, body: bytes, host: str, port: int) -> dict[str, Any]:
    """The WSGI environ moto's server (werkzeug's dev server with moto's request handler) builds for ``request``."""
    from moto.core.request import (
        PRESERVED_HEADER_NAMES_ENVIRON_KEY,
        environ_key_for_header,
        should_preserve_original_header_name,
    )

    parts = urlsplit(request.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(parts.path).decode("latin1"),  # werkzeug: unquote, then the WSGI latin-1 dance
        "QUERY_STRING": parts.query,
        "REQUEST_URI": target,
        "RAW_URI": target,
        "SERVER_NAME": host,
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "mailroom-inprocess",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": 0,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    preserved: dict[str, str] = {}
    for name, value in request.headers.items():
        text = value.decode("latin1") if isinstance(value, bytes) else str(value)
        key = environ_key_for_header(name)
        if "_" in name:
            # werkzeug's dev server drops underscored headers; moto keeps S3 metadata ones, by their spelling.
            if not should_preserve_original_header_name(name):
                continue
            preserved.setdefault(key, name)
        environ[key] = f"{environ[key]},{text}" if key in environ else text.replace("\r\n", "")
    environ.setdefault("HTTP_HOST", parts.netloc)  # http.client adds Host on the wire, botocore does not
    if preserved:
        environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = preserved
    if body and "CONTENT_LENGTH" not in environ:
        environ["CONTENT_LENGTH"] = str(len(body))  # chunked on the wire: the server would have de-chunked it
    return environ


def _call(app: WsgiApp, request: AWSPreparedRequest, host: str, port: int) -> AWSResponse:
    from moto.core.botocore_stubber import MockRawResponse

    body = _body(request)
    environ = environ_for(request, body, host, port)
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        started["status"], started["headers"] = status, headers
        return lambda data: None

    try:
        result = app(environ, start_response)
        try:
            payload = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    except Exception:
        log.exception("moto raised on %s %s", request.method, request.url)
        started = {"status": "500 INTERNAL SERVER ERROR", "headers": [("Content-Type", "text/html; charset=utf-8")]}
        payload = b"<!doctype html>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n"
    headers = HTTPHeaderDict()
    for name, value in started["headers"]:
        headers.add(name, value)
    if request.method == "HEAD":
        payload = b""
    status = int(str(started["status"]).split(" ", 1)[0])
    # urllib3's header dict, as botocore's own HTTP session passes it (case-insensitive, repeated headers joined).
    return AWSResponse(request.url, status, cast(Any, headers), MockRawResponse(payload))
