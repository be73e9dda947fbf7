"""The console's pages: a WSGI application over the CLI's own operations, so the two cannot disagree.

Server-rendered HTML (Jinja2, autoescaped) with one small script that refreshes marked regions.
Every answer carries a Content-Security-Policy; an email's HTML body is served apart, sandboxed, with
a policy under which no script runs and nothing remote loads. A request whose Host header is not the
console's own is refused (DNS rebinding), every state change needs the console's CSRF token, and
nothing an email says (subject, addresses, bodies) goes into a URL or a log line.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import jinja2
from botocore.exceptions import BotoCoreError, ClientError
from mailroom import lifecycle
from mailroom.errors import MailroomError, leaf_errors
from mailroom.sesformat import is_ses_message_id

from mailroom_cli import operations, operator
from mailroom_cli.console import graph
from mailroom_cli.target import Target, TargetError

log = logging.getLogger("mailroom_cli.console")

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# An email's HTML: no script (sandbox without allow-scripts, script-src none), nothing remote (images only
# inline data:), no forms, no navigation of the console; only the console may frame it.
BODY_POLICY = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)
TASK_STATES = ("Decrypt", "Parse", "Archive", "Inbox")
STATIC = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}


class HttpError(Exception):
    """An answer other than 200, with a message for the page."""

    def __init__(self, status: int, message: str, *, allow: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.allow = allow


@dataclass
class Request:
    """What a handler needs of one request."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, list[str]] = field(default_factory=dict)

    def arg(self, name: str) -> str:
        """A query parameter, stripped ("" when absent)."""
        return self.query.get(name, "").strip()

    def field(self, name: str) -> str:
        """A posted form field (its last value; "" when absent)."""
        return (self.form.get(name) or [""])[-1]


@dataclass
class Response:
    """Status, headers and body (bytes, or an iterable of chunks for downloads)."""

    body: bytes | Iterable[bytes]
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


_REASONS = {
    200: "OK",
    303: "See Other",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
}
_REASONS |= {421: "Misdirected Request", 500: "Internal Server Error", 502: "Bad Gateway"}


class Console:
    """The console for one mailroom (``target``): callable as a WSGI application."""

    def __init__(
        self,
        target: Target,
        *,
        allowed_hosts: Iterable[str],
        allow_replay: bool,
        label: str,
        refresh_seconds: float = 1.0,
        max_rows: int = 500,
    ) -> None:
        self.target = target
        self.refresh_ms = max(250, int(refresh_seconds * 1000))  # each refresh reads the status table
        self.max_rows = max_rows
        self.allowed_hosts = {h.lower() for h in allowed_hosts}
        self.allow_replay = allow_replay
        self.label = label
        self.csrf_token = secrets.token_urlsafe(32)
        self._cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._cache_lock = threading.Lock()
        self._locks = [threading.Lock() for _ in range(64)]  # striped: bounded, one email always the same lock
        self._definition: dict[str, Any] | None = None
        self._templates = jinja2.Environment(
            loader=jinja2.PackageLoader("mailroom_cli.console", "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._templates.filters["when"] = _when
        self._routes: list[tuple[str, str, Callable[[Request, str], Response]]] = [
            ("GET", "/", lambda r, _: _redirect("/emails")),
            ("GET", "/emails", self.emails),
            ("GET", "/emails/rows", self.email_rows),
            ("POST", "/replay/preview", self.replay_preview),
            ("POST", "/replay", self.replay),
            ("GET", "/email/", self.email),
            ("GET", "/email-live/", self.email_live),
            ("POST", "/email-replay/", self.email_replay),
            ("GET", "/inboxes", self.inboxes),
            ("GET", "/inbox", self.inbox),
            ("GET", "/item", self.item),
            ("GET", "/item/body.html", self.item_html),
            ("GET", "/item/attachment", self.attachment),
            ("GET", "/mailboxes", self.mailboxes),
            ("POST", "/mailboxes", self.mailbox_add),
            ("GET", "/stats", self.stats),
            ("GET", "/static/", self.static),
            ("GET", "/favicon.ico", lambda r, _: Response(b"", status=204)),
        ]

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Answer one request (every answer with the console's security headers; HEAD as GET without a body)."""
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
        try:
            response = self._dispatch(self._request(environ))
        except HttpError as exc:
            response = self._error(exc.status, str(exc), allow=exc.allow)
        except Exception as exc:  # noqa: BLE001 (one page fails, the console stays up; no content in the log)
            log.error("%s %s failed: %s", method, path, type(exc).__name__)
            response = self._error(500, f"the console failed ({type(exc).__name__}); see its log")
        headers = _headers(response)
        if any("\r" in value or "\n" in value for _, value in headers):  # never a split header, whatever slips by
            log.error("%s %s: refused to send a header with a line break", method, path)
            _close(response.body)
            response = self._error(500, "the console refused to send a malformed answer; see its log")
            headers = _headers(response)
        start_response(f"{response.status} {_REASONS.get(response.status, 'Error')}", headers)
        if str(method).upper() == "HEAD":
            _close(response.body)
            return [b""]
        return [response.body] if isinstance(response.body, bytes) else response.body

    def _request(self, environ: dict[str, Any]) -> Request:
        host = str(environ.get("HTTP_HOST", "")).lower()
        if host not in self.allowed_hosts:
            # DNS rebinding: a page on evil.example resolving to 127.0.0.1 still sends Host: evil.example.
            raise HttpError(421, "this console answers only to its own address")
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(str(environ.get("QUERY_STRING", ""))).items()}
        request = Request(method=method, path=str(environ.get("PATH_INFO") or "/"), query=query)
        if method == "POST":
            if not self.allow_replay:
                raise HttpError(403, "this console is read-only: start it with --allow-replay to change anything")
            request.form = _read_form(environ)
            token = request.field("csrf")
            if not hmac.compare_digest(token.encode(), self.csrf_token.encode()):
                raise HttpError(403, "the form's CSRF token is missing or wrong: reload the page and try again")
            origin = str(environ.get("HTTP_ORIGIN", ""))
            if origin and urllib.parse.urlsplit(origin).netloc.lower() not in self.allowed_hosts:
                raise HttpError(403, "the form was posted from another site")
        return request

    def _dispatch(self, request: Request) -> Response:
        allowed: list[str] = []
        for method, prefix, handler in self._routes:
            matched = (
                request.path.startswith(prefix) if prefix.endswith("/") and prefix != "/" else request.path == prefix
            )
            if not matched:
                continue
            if method != request.method and not (method == "GET" and request.method == "HEAD"):
                allowed.append(method)
                continue
            try:
                return handler(request, request.path[len(prefix) :])
            except (operator.OperatorError, operations.OperationError) as exc:
                raise HttpError(404 if str(exc).startswith("no ") else 400, str(exc)) from None
            except TargetError as exc:
                raise HttpError(502, str(exc)) from None
            except ClientError as exc:
                code = _code(exc)
                log.warning("%s %s: AWS answered %s", request.method, request.path, code)
                raise HttpError(502, f"AWS answered {code}") from None
            except BotoCoreError as exc:
                log.warning("%s %s: %s", request.method, request.path, type(exc).__name__)
                raise HttpError(502, f"AWS could not be reached ({type(exc).__name__})") from None
        if allowed:
            methods = sorted({*allowed, "HEAD"} if "GET" in allowed else set(allowed))
            raise HttpError(405, f"{request.method} is not allowed here", allow=", ".join(methods))
        raise HttpError(404, "no such page")

    # ------------------------------------------------------------------ rendering

    def _page(self, template: str, status: int = 200, **values: Any) -> Response:
        body = self._templates.get_template(template).render(
            label=self.label,
            allow_replay=self.allow_replay,
            refresh_ms=self.refresh_ms,
            csrf=self.csrf_token,
            **values,
        )
        return Response(body.encode(), status=status)

    def _error(self, status: int, message: str, *, allow: str | None = None) -> Response:
        response = self._page("error.html", status=status, status_code=status, message=message)
        if allow:
            response.headers.append(("Allow", allow))
        return response

    # ------------------------------------------------------------------ emails

    def _filters(self, values: dict[str, str]) -> dict[str, Any]:
        """``list_emails``'s filters; a bad status or window is refused by it and by ``parse_duration`` (400)."""
        status, step, error, since = (values.get(k, "").strip() for k in ("status", "step", "error", "since"))
        window = operator.parse_duration(since) if since else None
        return {"status": status or None, "step": step or None, "error": error or None, "since": window}

    def _rows(self, values: dict[str, str]) -> list[dict[str, Any]]:
        """The filtered emails; one read of the status table serves every tab asking within half a refresh."""
        filters = self._filters(values)
        key = repr(sorted(filters.items()))
        now = time.monotonic()
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None and now - cached[0] < self.refresh_ms / 2000:
                return cached[1]
        rows = operator.list_emails(self.target, **filters)
        with self._cache_lock:
            self._cache = {k: v for k, v in self._cache.items() if now - v[0] < 60} | {key: (now, rows)}
        return rows

    def emails(self, request: Request, _: str) -> Response:
        """Every email, newest first, with filters; the table refreshes itself."""
        rows = self._rows(request.query)
        shown = {k: request.arg(k) for k in ("status", "step", "error", "since")}
        return self._page(
            "emails.html",
            rows=rows[: self.max_rows],
            total=len(rows),
            filters=shown,
            query=urllib.parse.urlencode({k: v for k, v in shown.items() if v}),
            statuses=lifecycle.STATUSES,
            steps=TASK_STATES,
            errors=sorted(leaf_errors()),
        )

    def email_rows(self, request: Request, _: str) -> Response:
        """The emails table's rows alone (what the page's refresh fetches)."""
        rows = self._rows(request.query)
        return self._page("email_rows.html", rows=rows[: self.max_rows], total=len(rows))

    def replay_preview(self, request: Request, _: str) -> Response:
        """What replaying the filtered emails would do (a dry run), with a form to confirm it."""
        values = {k: request.field(k) for k in ("status", "step", "error", "since")}
        restart = request.field("restart") == "1"
        ids = [r["message_id"] for r in self._rows(values)]
        if len(ids) > self.max_rows:
            raise HttpError(400, f"{len(ids)} emails match: at most {self.max_rows} at once, narrow the filters")
        plans = operator.replay(self.target, ids, restart=restart, dry_run=True, rate=0) if ids else []
        return self._page(
            "replay_preview.html",
            plans=plans,
            chosen=[p["message_id"] for p in plans if p["action"] != "skipped"],
            restart=restart,
            filters=values,
        )

    def replay(self, request: Request, _: str) -> Response:
        """Replay exactly the emails the preview listed."""
        ids = [self._message_id(i) for i in dict.fromkeys(request.form.get("message_id", [])) if i]
        if not ids:
            raise HttpError(400, "nothing to replay: no email was chosen")
        if len(ids) > self.max_rows:
            raise HttpError(400, f"at most {self.max_rows} emails at once: narrow the filters")
        restart = request.field("restart") == "1"
        # Each email is planned again now: one that changed since the preview (delivered, running) is skipped.
        results = [self._replay_one(message_id, restart=restart) for message_id in ids]
        log.info("replayed %d email(s): %s", len(results), _counts(results))
        return self._page("replay_done.html", results=results)

    def _replay_one(self, message_id: str, *, restart: bool, to: Sequence[str] = ()) -> dict[str, Any]:
        """One email's replay by the shared policy; one at a time per email (a double click plans only once)."""
        with self._locks[zlib.crc32(message_id.encode()) % len(self._locks)]:
            try:
                return operator.replay(self.target, [message_id], restart=restart, to=to)[0]
            except (ClientError, BotoCoreError, MailroomError) as exc:
                log.warning("replay of one email failed: %s", type(exc).__name__)
                return {"message_id": message_id, "action": "error", "reason": type(exc).__name__}

    def _message_id(self, reference: str) -> str:
        """A whole SES message id, from itself or an unambiguous prefix of one (nothing else: no ARN)."""
        message_id = operations.resolve_message_id(self.target, reference) if not reference.startswith("arn:") else ""
        if not is_ses_message_id(message_id):
            raise HttpError(404, "no such email")
        return message_id

    def _email_view(self, message_id: str) -> dict[str, Any]:
        record = operator.status_record(self.target, message_id)
        row = operator.email_row(record)
        view: dict[str, Any] = {"row": row, "record": _plain(record), "history": None, "svg": None}
        view |= {"graph_error": None, "history_error": None, "plan": None}
        events: list[dict[str, Any]] = []
        try:
            view["history"], events = operator.history_and_events(self.target, message_id, record=record)
        except operator.NoExecutionError:
            pass  # never executed (an email SES stored but never announced)
        except ClientError as exc:  # denied, throttled: said as such, and the rest is still shown
            view["history_error"] = _code(exc)
        try:
            # No <style> in the SVG: the page's policy allows only console.css, which carries graph.STYLE.
            view["svg"] = graph.render_svg(self._asl(), graph.states_run(events), embed_style=False)
        except ClientError as exc:  # an operator without states:DescribeStateMachine still sees the rest
            view["graph_error"] = f"DescribeStateMachine: {_code(exc)}"
        if self.allow_replay and row["status"] != lifecycle.UNROUTABLE and not lifecycle.is_outcome(row["status"]):
            # The same plan `mailroom replay --dry-run` makes: a stuck "received" email can be replayed too.
            plan = self._replay_plan(message_id)
            view["plan"] = plan if plan["action"] not in ("skipped", "error") else None
        view["final"] = lifecycle.is_outcome(row["status"]) or (row["status"] == lifecycle.FAILED and view["plan"])
        return view

    def _replay_plan(self, message_id: str) -> dict[str, Any]:
        try:
            return operator.replay(self.target, [message_id], dry_run=True, rate=0)[0]
        except ClientError as exc:
            return {"message_id": message_id, "action": "error", "reason": _code(exc)}

    def email(self, request: Request, reference: str) -> Response:
        """One email: its state machine coloured by its execution, the history, the record, its inbox items."""
        message_id = self._message_id(reference)
        view = self._email_view(message_id)
        recipients = [str(r) for r in view["record"].get("recipients") or []]
        items = operations.items_of_email(self.target, message_id, recipients) if recipients else []
        return self._page("email.html", message_id=message_id, items=items, **view)

    def email_live(self, request: Request, reference: str) -> Response:
        """The part of an email's page that changes while it runs."""
        message_id = self._message_id(reference)
        return self._page("email_live.html", message_id=message_id, **self._email_view(message_id))

    def email_replay(self, request: Request, reference: str) -> Response:
        """Replay one email (redrive or restart by the shared policy; or route it to operator-given addresses)."""
        message_id = self._message_id(reference)
        restart = request.field("restart") == "1"
        to = [a.strip() for a in request.field("to").split(",") if a.strip()]
        result = self._replay_one(message_id, restart=restart, to=operator.check_addresses(to))
        log.info("replay of one email: %s", result["action"])
        return self._page("replay_done.html", results=[result])

    def _asl(self) -> dict[str, Any]:
        # The definition the stack runs (on AWS: the deployed one, substitutions made), read once.
        if self._definition is None:
            described = self.target.client("stepfunctions").describe_state_machine(
                stateMachineArn=self.target.name("StateMachineArn")
            )
            self._definition = json.loads(described["definition"])
        return self._definition

    # ------------------------------------------------------------------ inboxes

    def inboxes(self, request: Request, _: str) -> Response:
        """The users the registry knows, with their addresses."""
        users: dict[str, list[str]] = {}
        for mailbox in operations.list_mailboxes(self.target):
            users.setdefault(mailbox["user"], []).append(mailbox["address"])
        return self._page("inboxes.html", users=sorted(users.items()))

    def inbox(self, request: Request, _: str) -> Response:
        """One user's inbox items, newest first."""
        user = request.arg("user")
        if not user:
            raise HttpError(400, "which user? (?user=NAME)")
        return self._page("inbox.html", user=user, items=operations.inbox(self.target, user))

    def _item(self, request: Request) -> dict[str, Any]:
        user, item_id = request.arg("user"), request.arg("id")
        if not user or not item_id:
            raise HttpError(400, "which item? (?user=NAME&id=MESSAGE_ID)")
        return operations.inbox_item(self.target, item_id, user=user)

    def item(self, request: Request, _: str) -> Response:
        """One inbox item: headers, the text body, the HTML body (sandboxed), the attachments."""
        item = self._item(request)
        text, has_html = operations.item_text(self.target, item)
        attachments = item.get("attachments") or []
        return self._page(
            "item.html",
            user=item["user"],
            item=item,
            names=[operations.attachment_name(a, n) for n, a in enumerate(attachments, start=1)],
            text=text.decode("utf-8", errors="replace") if text is not None else None,
            has_html=has_html,
            query=urllib.parse.urlencode({"user": item["user"], "id": item["message_id"]}),
        )

    def item_html(self, request: Request, _: str) -> Response:
        """An item's HTML body, for the sandboxed frame only: no script runs, nothing remote loads."""
        html = operations.html_with_inline_images(self.target, self._item(request))
        if html is None:
            raise HttpError(404, "this email has no HTML body")
        return Response(
            html,
            headers=[
                ("Content-Security-Policy", BODY_POLICY),
                ("X-Frame-Options", "SAMEORIGIN"),
                ("X-DNS-Prefetch-Control", "off"),  # <link rel=dns-prefetch> is outside the policy's reach
            ],
        )

    def attachment(self, request: Request, _: str) -> Response:
        """An attachment's bytes, exactly as archived, always as a download (never rendered here)."""
        item = self._item(request)
        try:
            number = int(request.arg("n"))
        except ValueError:
            raise HttpError(400, "which attachment? (&n=1…)") from None
        try:
            name, spool = operations.verified_attachment(self.target, item, number)
        except operations.DamagedArchiveError as exc:
            raise HttpError(502, str(exc)) from None  # never served as if whole
        size = spool.seek(0, 2)
        spool.seek(0)
        return Response(
            _chunks(spool),
            content_type="application/octet-stream",
            headers=[("Content-Length", str(size)), ("Content-Disposition", _attachment_disposition(name))],
        )

    # ------------------------------------------------------------------ mailboxes and stats

    def mailboxes(self, request: Request, _: str) -> Response:
        """The mailbox registry."""
        return self._page(
            "mailboxes.html",
            mailboxes=operations.list_mailboxes(self.target),
            domain=self.target.names.get("RecipientDomain"),
            message="Mailbox added." if request.arg("added") else "",
        )

    def mailbox_add(self, request: Request, _: str) -> Response:
        """Register an address (refused when it feeds another user, unless moved on purpose)."""
        form = {k: request.field(k) for k in ("address", "user", "tenant", "force")}
        operations.add_mailbox(
            self.target,
            form["address"],
            user=form["user"],
            tenant=form["tenant"] or "default",
            force=form["force"] == "1",
        )
        return _redirect("/mailboxes?added=1")  # no address in the URL

    def stats(self, request: Request, _: str) -> Response:
        """The ``mailroom stats`` figures, and the last hour's throughput and latency."""
        since = request.arg("since") or "24h"
        window = operator.parse_duration(since)  # a bad window: OperatorError, answered 400
        records = operator.status_records(self.target)  # one Scan for both
        figures = operator.stats(self.target, since=window, records=records)
        activity = operator.activity(self.target, records=records)
        return self._page("stats.html", since=since, figures=figures, chart=_chart(activity), activity=activity)

    def static(self, request: Request, name: str) -> Response:
        """The stylesheet and the script (no CDN: everything is served from here)."""
        if name not in STATIC:
            raise HttpError(404, "no such file")
        body = resources.files("mailroom_cli.console").joinpath("static", name).read_bytes()
        if name == "console.css":
            body += b"\n/* The state machine graph (mailroom_cli.console.graph.STYLE) */\n" + graph.STYLE.encode()
        return Response(body, content_type=STATIC[name], headers=[("Cache-Control", "no-cache")])


_SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
]


def _headers(response: Response) -> list[tuple[str, str]]:
    headers = [("Content-Type", response.content_type), *_SECURITY_HEADERS, *response.headers]
    for name, default in (("Content-Security-Policy", PAGE_POLICY), ("Cache-Control", "no-store")):
        if not any(n == name for n, _ in headers):
            headers.append((name, default))
    if isinstance(response.body, bytes):
        headers.append(("Content-Length", str(len(response.body))))
    return headers


def _close(body: bytes | Iterable[bytes]) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()


def _read_form(environ: dict[str, Any]) -> dict[str, list[str]]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > 1 << 20:
        raise HttpError(400, "the form is too large")
    body = environ["wsgi.input"].read(length) if length else b""
    return urllib.parse.parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)


def _redirect(location: str) -> Response:
    return Response(b"", status=303, headers=[("Location", location)])


def _chunks(body: Any) -> Iterator[bytes]:
    try:
        while chunk := body.read(1 << 16):
            yield chunk
    finally:
        body.close()


def _attachment_disposition(name: str) -> str:
    fallback = name.encode("ascii", "replace").decode().replace('"', "_").replace("\\", "_").replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "error"))


def _counts(results: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for result in results:
        counts[result["action"]] = counts.get(result["action"], 0) + 1
    return ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "none"


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """A status record for display: numbers as numbers, sets as sorted lists."""
    out: dict[str, Any] = {}
    for key, value in sorted(record.items()):
        if isinstance(value, set):
            value = sorted(value)
        elif hasattr(value, "is_integer"):
            value = int(value) if value == int(value) else float(value)
        out[key] = value
    return out


def _when(value: Any) -> str:
    """A timestamp as ``2026-12-02 10:04:55`` UTC (its ISO text, or the value as given)."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return "" if value is None else str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _chart(activity: list[dict[str, Any]]) -> dict[str, Any]:
    """Bar heights for the last hour's chart (an inline SVG the template draws: no script, no library)."""
    peak = max([1, *(max(a["received"], a["delivered"]) for a in activity)])
    slowest = max([1.0, *(a["latency_p50_ms"] or 0.0 for a in activity)])
    bars = []
    for n, slot in enumerate(activity):
        bars.append(
            {
                "x": 40 + n * 50,
                "received": round(100 * slot["received"] / peak),
                "delivered": round(100 * slot["delivered"] / peak),
                "latency": round(100 * (slot["latency_p50_ms"] or 0.0) / slowest),
                "slot": slot,
                "label": _when(slot["start"])[11:16],
            }
        )
    return {"bars": bars, "peak": peak, "slowest": slowest}
