"""Serving the console: a threaded WSGI server from the standard library, on loopback unless told otherwise.

One operator's browser is the whole audience, so the standard library's server is enough (no ASGI
framework to install beside boto3). Its access log names method, path and status: never the query,
never a form.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from mailroom_cli.console.app import Console
from mailroom_cli.target import Target

log = logging.getLogger("mailroom_cli.console")
LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8025


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No query strings, no client details: method, path and status only."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        log.info("%s %s %s", self.command, path, code)


def allowed_hosts(host: str, port: int) -> set[str]:
    """The Host headers this console answers to: its own address (and ``localhost`` for loopback)."""
    names = {f"{host}:{port}"}
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return names
    if address.is_loopback:
        names |= {f"localhost:{port}", f"127.0.0.1:{port}"}
    if address.version == 6:
        names.add(f"[{host}]:{port}")
    return names


def check_host(host: str) -> None:
    """Refuse "every interface": the Host check must know the console's own address to compare against."""
    try:
        unspecified = ipaddress.ip_address(host).is_unspecified
    except ValueError:
        unspecified = False
    if unspecified:
        raise ValueError(f"bind the console to one address, not {host}: e.g. --host 127.0.0.1")


class ConsoleServer:
    """The console for ``target``, served on ``host:port`` (port 0: a free one) from a daemon thread."""

    def __init__(
        self,
        target: Target,
        *,
        host: str = LOOPBACK,
        port: int = DEFAULT_PORT,
        allow_replay: bool = False,
        label: str = "local",
        refresh_seconds: float = 1.0,
    ) -> None:
        check_host(host)
        console = Console(
            target, allowed_hosts=(), allow_replay=allow_replay, label=label, refresh_seconds=refresh_seconds
        )
        self._server = make_server(
            host,
            port,
            console,
            server_class=_ThreadingServer6 if ":" in host else _ThreadingServer,
            handler_class=_Handler,
        )
        self.host = host
        self.port = int(self._server.server_address[1])
        self.console = console
        self.console.allowed_hosts = allowed_hosts(host, self.port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where a browser finds it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> ConsoleServer:
        """Serve from a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="mailroom-console", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
