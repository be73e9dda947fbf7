"""In-process transport: the emulator's own AWS calls reach moto's WSGI app without a socket.

The local stack makes two kinds of AWS calls, all through real boto3 clients:

- the **customer's** calls: our handlers (``mailroom.composition``'s clients, signing as each
  function's role, in the functions' execution environments: processes of their own), the tests, the
  CLI and the console. They go to moto over real HTTP on loopback, as the project's standards ask
  ("real moto services over HTTP in local mode");
- the **emulator's own** calls, which on AWS happen inside the services: SES storing, encrypting and
  announcing a received email (``smtp.py``), Lambda's SQS event source mapping polling and invoking
  (``poller.py``), the Step Functions interpreter invoking its tasks (``iam.py``, ``moto_patches.py``),
  EventBridge's status-change events (``events.py``) and the CLI's progress lines (``progress.py``).
  Their clients are marked with ``internal(client)`` and always served here, in process.

Over loopback HTTP a call also pays for a TCP round trip, ``http.server`` parsing, werkzeug's
request handler and a server thread, on both sides of one GIL (docs/benchmarks.md). Here botocore's
last step, ``Endpoint._send``, hands the request straight to the same WSGI application the moto
server runs (moto's ``DomainDispatcherApplication``), with the environ werkzeug's development server
would build, and wraps the answer in the ``AWSResponse`` botocore parses. What a call does is
unchanged: the client serialises, signs (with the same identity as over HTTP), retries and parses
as ever, and moto's Flask apps answer as ever, local IAM's authorization hook included. An internal
client is routed by the endpoint it was made for, so S3's virtual-hosted addressing (a bucket in the
host name) still reaches its stack; an internal client whose endpoint no stack serves uses HTTP.

``MAILROOM_LOCAL_TRANSPORT=inprocess`` serves *every* client of the stack's process in process (a
test's or a bench's own too). Other processes, the handlers' execution environments among them,
always use HTTP.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import unquote_to_bytes, urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.endpoint import Endpoint
from urllib3 import HTTPHeaderDict

log = logging.getLogger(__name__)

ENV_VAR = "MAILROOM_LOCAL_TRANSPORT"
SERVER_SOFTWARE = "mailroom-inprocess"  # the environ's SERVER_SOFTWARE for a request served here
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Client = TypeVar("Client")


@dataclass(frozen=True)
class _Route:
    app: WsgiApp
    host: str
    port: int
    every_client: bool  # the whole-process opt-in: not only internal clients


_lock = threading.Lock()
_routes: dict[str, _Route] = {}  # "http://host:port" -> where its requests are served
_internal: weakref.WeakSet[Endpoint] = weakref.WeakSet()  # the endpoints of clients marked internal
# botocore's own ``_send``, kept once replaced: a call already in ``_send`` when the last stack stops still has it.
_original_send: Callable[[Endpoint, AWSPreparedRequest], AWSResponse] | None = None


def enabled() -> bool:
    """True only when ``$MAILROOM_LOCAL_TRANSPORT`` asks for ``inprocess`` (HTTP is the default)."""
    return os.environ.get(ENV_VAR, "http").strip().lower() == "inprocess"


def internal(client: Client) -> Client:
    """Mark ``client`` as the emulator's own (a service-internal call on AWS): served in process; returns it."""
    _internal.add(cast(Any, client)._endpoint)  # botocore: one Endpoint per client
    return client


def is_internal(client: Any) -> bool:
    """True when ``client`` was marked with ``internal``."""
    return client._endpoint in _internal


def install(app: WsgiApp, host: str, port: int, *, every_client: bool = False) -> Callable[[], None]:
    """Serve the internal clients' requests for ``http://{host}:{port}`` (and ``localhost``) from ``app``.

    ``every_client``: every client's requests to that origin (``$MAILROOM_LOCAL_TRANSPORT``). Returns the undo.
    """
    global _original_send
    origins = {_origin(f"http://{h}:{port}") for h in (host, "localhost", "127.0.0.1")}
    route = _Route(app, host, port, every_client)
    with _lock:
        current = getattr(Endpoint, "_send")  # noqa: B009 - private, and untyped in the stubs
        if current is not _send:
            _original_send = current
            setattr(Endpoint, "_send", _send)  # noqa: B010 - botocore's transport, replaced in this process only
        for origin in origins:
            _routes[origin] = route

    def uninstall() -> None:
        with _lock:
            for origin in origins:
                if _routes.get(origin) is route:
                    del _routes[origin]
            if not _routes and getattr(Endpoint, "_send") is _send:  # noqa: B009
                setattr(Endpoint, "_send", _original_send)  # noqa: B010

    return uninstall


def _send(endpoint: Endpoint, request: AWSPreparedRequest) -> AWSResponse:
    if endpoint in _internal:
        # The stack the client was made for, whatever host S3's virtual-hosted addressing put in the URL.
        route = _routes.get(_origin(endpoint.host))
    else:
        route = _routes.get(_origin(request.url))
        route = route if route is not None and route.every_client else None
    if route is None:
        assert _original_send is not None  # kept from the first install on
        return _original_send(endpoint, request)
    return _call(route.app, request, route.host, route.port)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


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
        "SERVER_SOFTWARE": SERVER_SOFTWARE,
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
