"""moto's server over real HTTP/1.1 on loopback, with keep-alive connections.

moto's ``ThreadedMotoServer`` is werkzeug's development server, which answers every request with
``Connection: close`` (its comment: Python's ``http.server`` cannot drain a request body before the
next request line) and then waits up to 10 ms for the client to hang up. So every AWS call of the
local stack (about 40 per email) paid for a new TCP connection, a new server thread, a new
connection in the client's pool and that wait (docs/benchmarks.md: one connection per request).

This server runs the same WSGI application (moto's ``DomainDispatcherApplication`` with moto's
request handler, so the environ is the one moto's server builds) on the same ``http.server``
machinery, with one difference: it reads each request body exactly (``Content-Length``) before
calling the application and answers with a ``Content-Length``, so a connection can carry the next
request, as it does with AWS. A chunked request body, rare from botocore, still closes its
connection after the answer. Idle connections close after ``IDLE_SECONDS``; ``stop`` closes all.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import threading
from typing import Any, Final

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import ThreadedWSGIServer

IDLE_SECONDS: Final = 120.0
_NO_BODY_STATUSES: Final = frozenset({204, 304})


class KeepAliveRequestHandler(MotoRequestHandler):
    """moto's request handler, answering with a length so that HTTP/1.1 connections stay open."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS  # an idle keep-alive connection ends its thread after this long

    def setup(self) -> None:
        """Register the connection with the server (``stop`` closes it)."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server: Any = self.server
        server.track(self.connection, True)

    def finish(self) -> None:
        """Forget the connection."""
        server: Any = self.server
        server.track(self.connection, False)
        super().finish()

    def run_wsgi(self) -> None:
        """One request: body read exactly, the application's answer sent with a Content-Length."""
        # ``Expect: 100-continue`` was answered by http.server's parse_request (protocol HTTP/1.1).
        environ = self.environ = self.make_environ()
        chunked = environ.get("wsgi.input_terminated", False)
        if not chunked:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            environ["wsgi.input"] = io.BytesIO(self.rfile.read(length) if length > 0 else b"")
        started: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info is not None and started.get("sent"):
                raise exc_info[1].with_traceback(exc_info[2])
            started["status"], started["headers"] = status, headers
            return chunks.append

        chunks: list[bytes] = []
        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:  # noqa: BLE001 - what werkzeug's server answers for an application error
            self.server.log("error", "Error on request %s %s", self.command, self.path)
            started = {"status": "500 INTERNAL SERVER ERROR", "headers": [("Content-Type", "text/plain")]}
            chunks = [b"Internal Server Error"]
        self._answer(str(started["status"]), started["headers"], b"".join(chunks), chunked)

    def _answer(self, status: str, headers: list[tuple[str, str]], body: bytes, close: bool) -> None:
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        self.send_response(code, reason)
        names = set()
        for name, value in headers:
            lowered = name.lower()
            if lowered in ("connection", "transfer-encoding", "keep-alive"):
                continue  # hop-by-hop: this server decides them
            names.add(lowered)
            self.send_header(name, value)
        no_body = self.command == "HEAD" or code in _NO_BODY_STATUSES or 100 <= code < 200
        if "content-length" not in names and not no_body:
            self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")  # also sets close_connection
        self.end_headers()
        if body and not no_body:
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """werkzeug's request line log, only when its logger would print it (formatting it costs)."""
        if logging.getLogger("werkzeug").isEnabledFor(logging.INFO):
            super().log_request(code, size)


class _Server(ThreadedWSGIServer):
    """werkzeug's threaded server, knowing its open connections so that ``stop`` can close them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class MotoHttpServer:
    """moto's WSGI application on ``host:port`` (port 0: any free one), over keep-alive HTTP/1.1."""

    def __init__(self, host: str, port: int) -> None:
        self.app = DomainDispatcherApplication(create_backend_app)
        self._server = _Server(host, port, self.app, handler=KeepAliveRequestHandler)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve on a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-http", daemon=True)
        self._thread.start()

    def get_host_and_port(self) -> tuple[str, int]:
        """Where it listens."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        """Stop accepting, close the listening socket and every open connection."""
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
