"""A loopback HTTP endpoint through which `mailroom local fail/heal` reach the running stack's runtime."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mailroom.errors import leaf_errors

from mailroom_cli.local.runtime import LocalRuntime

DEFAULT_FAULT = "StorageUnavailableError"


def fault_class(name: str | None) -> type[Exception]:
    """The taxonomy class an operator named (retryable by default)."""
    leaves = leaf_errors()
    chosen = name or DEFAULT_FAULT
    if chosen not in leaves:
        raise ValueError(f"{chosen} is not an error of the taxonomy; one of: {', '.join(sorted(leaves))}")
    return leaves[chosen]


class ControlServer:
    """Serves ``POST /fail`` (``{step, error?, times?, after?, hang?}``) and ``POST /heal`` (``{step?}``)."""

    def __init__(self, runtime: LocalRuntime, host: str = "127.0.0.1") -> None:
        runtime_ref = runtime

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                    if self.path == "/fail":
                        times = body.get("times")
                        if times is not None and (not isinstance(times, int) or times < 1):
                            raise ValueError("times must be at least 1 (leave it out to fail until healed)")
                        hang = float(body.get("hang") or 0.0)
                        if hang < 0:
                            raise ValueError("hang must not be negative")
                        # --hang alone: the step only stalls (a timeout if longer than its Timeout)
                        error = None if hang and body.get("error") is None else fault_class(body.get("error"))
                        after = bool(body.get("after", False))
                        runtime_ref.fail(str(body["step"]), error, times, after=after, hang_seconds=hang)
                        reply: dict[str, Any] = {
                            "step": body["step"],
                            "error": error.__name__ if error else None,
                            "times": times,
                            "after": after,
                            "hang": hang,
                        }
                    elif self.path == "/heal":
                        runtime_ref.heal(body.get("step"))
                        reply = {"healed": body.get("step") or "all"}
                    else:
                        self.send_error(404)
                        return
                except (KeyError, ValueError) as exc:
                    self._json(400, {"error": str(exc)})
                    return
                self._json(200, reply)

            def _json(self, code: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="control", daemon=True)

    @property
    def url(self) -> str:
        """Where it listens."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def call(control_url: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """POST to a running stack's control endpoint; a 400 raises ``ValueError`` with its message."""
    request = urllib.request.Request(  # noqa: S310 - loopback URL from our own state file
        f"{control_url}/{action}",
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            result: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise ValueError(json.loads(exc.read() or b"{}").get("error", str(exc))) from None
    return result
