"""The console's acceptance, in the browser: live emails, the coloured graph, the drill, sandboxed HTML, downloads."""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import os
import time
import urllib.parse
from email.message import EmailMessage
from pathlib import Path

import pytest
from local_stack import LOOPBACK, final_status, store_as_ses, wait_until
from mailroom.errors import DatabaseUnavailableError, StorageUnavailableError
from playwright.sync_api import Page, Request, expect

from mailroom_cli import operations as ops
from mailroom_cli import operator
from mailroom_cli.console.server import ConsoleServer
from mailroom_cli.local.ses_producer import new_ses_message_id
from mailroom_cli.local.stack import LocalStack
from mailroom_cli.target import Target

pytestmark = pytest.mark.allow_hosts(LOOPBACK)
TASKS = ("Decrypt", "Parse", "Archive", "Inbox")


def _send(stack: LocalStack, to: str, *, subject: str, html: str | None = None, attachment: bytes = b"") -> str:
    message = EmailMessage()
    message["From"] = "scanner@office.example"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(f"{subject}: plain text")
    if html is not None:
        message.add_alternative(html, subtype="html")
    if attachment:
        message.add_attachment(attachment, maintype="application", subtype="pdf", filename="scan.pdf")
    reply = ops.send(stack.info()["smtp"], message, to=[to], sender="scanner@office.example")
    return reply.split()[-1]


def _mailbox(target: Target, user: str) -> str:
    address = f"{user}@{target.name('RecipientDomain')}"
    ops.add_mailbox(target, address, user=user)
    return address


def _shot(page: Page, screenshots: Path, name: str) -> None:
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


def test_an_email_appears_without_a_reload_and_its_page_shows_four_succeeded_states(
    stack: LocalStack, target: Target, console: ConsoleServer, page: Page, screenshots: Path
) -> None:
    address = _mailbox(target, "ada")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(console.url + "emails")
    loads: list[str] = []
    page.on("load", lambda _: loads.append("load"))

    message_id = _send(stack, address, subject="live", attachment=b"%PDF-1.4 live")

    row = page.locator(f'tr[data-id="{message_id}"]')
    expect(row).to_be_visible(timeout=3_000)
    expect(row.locator(".badge")).to_have_text("delivered", timeout=30_000)
    assert loads == [], "the row arrived by a reload"
    _shot(page, screenshots, "emails")

    row.locator("a").click()
    graph = page.locator("svg [data-state]")
    for state in TASKS:
        expect(page.locator(f'svg [data-state="{state}"]')).to_have_attribute("data-outcome", "succeeded")
    assert graph.count() == len(operator_states(target))
    states = page.locator("table.states tbody tr")
    expect(states.first).to_be_visible()
    assert [states.nth(n).get_attribute("data-state") for n in range(states.count())] == list(TASKS)
    expect(page.locator("details summary")).to_contain_text("events")
    edge = page.locator("svg .edge path").first
    assert edge.evaluate("e => getComputedStyle(e).fill") == "none"  # the graph's style came with console.css
    assert errors == [], errors  # e.g. a style or script the page's policy refused
    _shot(page, screenshots, "email")


def operator_states(target: Target) -> list[str]:
    definition = target.client("stepfunctions").describe_state_machine(stateMachineArn=target.name("StateMachineArn"))
    return list(json.loads(definition["definition"])["States"])


def test_the_drill_in_the_browser_replays_the_failed_at_archive_and_reruns_only_archive_onwards(
    stack: LocalStack, target: Target, console: ConsoleServer, page: Page, screenshots: Path
) -> None:
    address = _mailbox(target, "dora")
    stack.runtime.fail("Archive", StorageUnavailableError, times=None)
    try:
        ids = [_send(stack, address, subject=f"drill {n}", attachment=b"%PDF-1.4 drill") for n in range(3)]
        page.goto(console.url + "emails")
        page.select_option("select[name=status]", "failed")
        page.select_option("select[name=step]", "Archive")
        page.click("form.filters button[type=submit]")
        rows = page.locator("#rows tr[data-id]")
        expect(rows).to_have_count(3, timeout=60_000)
        assert {rows.nth(n).get_attribute("data-id") for n in range(3)} == set(ids)
        _shot(page, screenshots, "emails-failed-at-archive")
    finally:
        stack.runtime.heal()

    page.click("#bulk-replay")
    plans = page.locator("table.plans tbody tr[data-id]")
    expect(plans).to_have_count(3)
    assert {plans.nth(n).get_attribute("data-action") for n in range(3)} == {"redrive"}
    assert {ops.email_status(target, m) for m in ids} == {"failed"}, "the preview changed something"
    _shot(page, screenshots, "replay-preview")
    page.click("#confirm-replay")
    done = page.locator("table.plans tbody tr[data-id]")
    expect(done).to_have_count(3)
    assert {done.nth(n).get_attribute("data-action") for n in range(3)} == {"redrive"}

    wait_until(lambda: {ops.email_status(target, m) for m in ids} == {"delivered"}, what="all three delivered")
    for message_id in ids:
        states = [s["state"] for s in operator.history(target, message_id)["states"]]
        after = states[states.index("(redriven)") + 1 :]
        assert after == ["Archive", "Inbox"], states
        assert states.count("Decrypt") == 1
        assert states.count("Parse") == 1
    assert len(ops.inbox(target, "dora")) == 3

    page.goto(console.url + f"email/{ids[0]}")
    for state in TASKS:
        expect(page.locator(f'svg [data-state="{state}"]')).to_have_attribute("data-outcome", "succeeded")
    _shot(page, screenshots, "email-redriven")


def test_an_html_body_runs_no_script_and_loads_nothing_remote(
    stack: LocalStack, target: Target, console: ConsoleServer, page: Page, screenshots: Path
) -> None:
    address = _mailbox(target, "hal")
    html = (
        "<html><head><meta http-equiv='refresh' content='0;url=http://198.51.100.7/refresh'>"
        "<link rel='stylesheet' href='http://198.51.100.7/style.css'></head><body>"
        "<p id='greeting'>Hello from the HTML part</p>"
        "<script>document.body.setAttribute('data-pwned','1'); try { parent.pwned = 1 } catch (e) {}</script>"
        "<img src='http://198.51.100.7/pixel.png' onerror=\"document.body.setAttribute('data-onerror','1')\">"
        "<img src='https://198.51.100.8/beacon.gif'>"
        "</body></html>"
    )
    message_id = _send(stack, address, subject="hostile html", html=html)
    wait_until(lambda: ops.email_status(target, message_id) == "delivered", what="the email delivered")

    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r))
    page.goto(console.url + "inbox?" + urllib.parse.urlencode({"user": "hal"}))
    _shot(page, screenshots, "inbox")
    page.locator(f'tr[data-id="{message_id}"] a').click()
    expect(page.locator("#text-body")).to_contain_text("plain text")
    body = page.frame_locator("#html-body").locator("body")
    expect(body.locator("#greeting")).to_have_text("Hello from the HTML part")  # the HTML did render
    deadline = time.monotonic() + 10  # the browser tries both remote images (its policy refuses them) first
    while {urllib.parse.urlsplit(r.url).path for r in requests if r.failure} < {"/pixel.png", "/beacon.gif"}:
        assert time.monotonic() < deadline, "the remote images were never tried"
        page.wait_for_timeout(100)  # Playwright delivers its events while it waits
    assert body.get_attribute("data-pwned") is None, "a script in the email ran"
    assert body.get_attribute("data-onerror") is None, "an event handler in the email ran"
    assert page.evaluate("window.pwned") is None
    remote = [r for r in requests if urllib.parse.urlsplit(r.url).hostname != "127.0.0.1"]
    # Chromium announces a request the page's policy then blocks inside the browser (failure "csp"): it
    # never reaches the network. Anything else to a remote host would have left loopback.
    left = [r.url for r in remote if r.failure not in ("csp", "net::ERR_BLOCKED_BY_CSP")]
    assert not left, f"requests left loopback: {left}"
    assert {urllib.parse.urlsplit(r.url).path for r in remote} >= {"/pixel.png", "/beacon.gif"}, "nothing was tried"
    assert "/refresh" not in {urllib.parse.urlsplit(r.url).path for r in remote}, "the meta refresh navigated"
    assert any("/item/body.html" in r.url for r in requests)
    _shot(page, screenshots, "item")


PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def test_an_html_bodys_own_inline_images_show_and_nothing_else_loads(
    stack: LocalStack, target: Target, console: ConsoleServer, page: Page
) -> None:
    address = _mailbox(target, "ida")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "scanner@office.example", address, "inline logo"
    message.set_content("see the logo")
    message.add_alternative(
        "<p>logo: <img id='logo' src='cid:logo@office.example'> missing: <img id='other' src='cid:nope@x'></p>",
        subtype="html",
    )
    message.get_payload()[1].add_related(PIXEL, maintype="image", subtype="png", cid="<logo@office.example>")
    message_id = ops.send(stack.info()["smtp"], message, to=[address], sender="scanner@office.example").split()[-1]
    assert final_status(target, message_id) == "delivered"

    page.goto(console.url + "item?" + urllib.parse.urlencode({"user": "ida", "id": message_id}))
    frame = page.frame_locator("#html-body")
    expect(frame.locator("#logo")).to_have_attribute("src", "data:image/png;base64," + base64.b64encode(PIXEL).decode())
    assert frame.locator("#logo").evaluate("img => img.naturalWidth") == 1  # decoded: the image shows
    expect(frame.locator("#other")).to_have_attribute("src", "cid:nope@x")  # not the email's: left, loads nothing


def test_attachments_download_byte_identical(
    stack: LocalStack, target: Target, console: ConsoleServer, page: Page, tmp_path: Path
) -> None:
    address = _mailbox(target, "bea")
    original = os.urandom(300_000) + b"\x00\r\n\xff" * 100
    message_id = _send(stack, address, subject="binary", attachment=original)
    wait_until(lambda: ops.email_status(target, message_id) == "delivered", what="the email delivered")

    page.goto(console.url + "item?" + urllib.parse.urlencode({"user": "bea", "id": message_id}))
    with page.expect_download() as downloading:
        page.locator("a.download").first.click()
    download = downloading.value
    assert download.suggested_filename == "scan.pdf"
    saved = tmp_path / "scan.pdf"
    download.save_as(saved)
    assert saved.read_bytes() == original


def test_mailboxes_and_stats_pages(
    stack: LocalStack, target: Target, console: ConsoleServer, page: Page, screenshots: Path
) -> None:
    page.goto(console.url + "mailboxes")
    page.fill("input[name=address]", f"Eve@{target.name('RecipientDomain')}")
    page.fill("input[name=user]", "eve")
    page.click("#add-mailbox")
    expect(page.locator("p.ok")).to_have_text("Mailbox added.")
    assert "eve" not in page.url.lower()  # no address in a URL
    expect(page.locator("table")).to_contain_text(f"eve@{target.name('RecipientDomain')}")
    assert {"address": f"eve@{target.name('RecipientDomain')}", "user": "eve", "tenant": "default"} in (
        ops.list_mailboxes(target)
    )
    sent = _send(stack, f"eve@{target.name('RecipientDomain')}", subject="for the chart")
    assert final_status(target, sent) == "delivered"
    page.fill("input[name=address]", f"eve@{target.name('RecipientDomain')}")
    page.fill("input[name=user]", "mallory")
    page.click("#add-mailbox")
    expect(page.locator("#error-message")).to_contain_text("give --force")  # the CLI's own refusal
    page.goto(console.url + "mailboxes")
    _shot(page, screenshots, "mailboxes")

    page.goto(console.url + "inboxes")
    expect(page.locator("a", has_text="eve")).to_be_visible()
    _shot(page, screenshots, "inboxes")

    page.goto(console.url + "stats")
    figures = operator.stats(target, since=operator.parse_duration("24h"))
    delivered = page.locator("#figures tr", has_text="Delivered").locator("td")
    expect(delivered).to_have_text(str(figures["delivered"]))
    slots = page.locator("svg.chart g.slot")
    expect(slots).to_have_count(12)
    drawn = sum(int(slots.nth(n).get_attribute("data-delivered") or 0) for n in range(12))
    assert drawn == sum(s["delivered"] for s in operator.activity(target))
    assert drawn >= 1  # at least the one delivered above
    _shot(page, screenshots, "stats")


def test_one_failed_email_is_replayed_from_its_page(
    stack: LocalStack, target: Target, console: ConsoleServer, page: Page, screenshots: Path
) -> None:
    address = _mailbox(target, "fred")
    stack.runtime.fail("Inbox", DatabaseUnavailableError, times=None)
    try:
        message_id = _send(stack, address, subject="one failure", attachment=b"%PDF-1.4 one")
        assert final_status(target, message_id) == "failed"
    finally:
        stack.runtime.heal()
    page.goto(console.url + f"email/{message_id[:8]}")  # an unambiguous prefix is enough
    expect(page.locator('svg [data-state="Inbox"]')).to_have_attribute("data-outcome", "failed")
    expect(page.locator('svg [data-state="Archive"]')).to_have_attribute("data-outcome", "succeeded")
    _shot(page, screenshots, "email-failed")
    expect(page.locator(".replay")).to_contain_text("would redrive")  # the shared policy's plan, shown first
    page.click("#replay-one")
    expect(page.locator(f'table.plans tr[data-id="{message_id}"]')).to_have_attribute("data-action", "redrive")
    page.click(f'table.plans tr[data-id="{message_id}"] a')
    expect(page.locator("#email-status")).to_have_text("delivered", timeout=30_000)  # live
    expect(page.locator('svg [data-state="Inbox"]')).to_have_attribute("data-outcome", "succeeded")
    states = [s["state"] for s in operator.history(target, message_id)["states"]]
    assert states[states.index("(redriven)") + 1 :] == ["Inbox"]  # a redrive: only the failed step ran again
    assert len(ops.inbox(target, "fred")) == 1


def test_an_email_no_notification_announced_is_routed_from_its_page(
    stack: LocalStack, target: Target, console: ConsoleServer, page: Page
) -> None:
    address = _mailbox(target, "gus")
    message_id = new_ses_message_id()
    mime = f"From: a@office.example\r\nTo: {address}\r\nSubject: lost\r\n\r\nnever announced\r\n".encode()
    store_as_ses(stack, mime, message_id)
    assert message_id in operator.sweep(target, older_than=dt.timedelta(0))

    page.goto(console.url + f"email/{message_id}")
    expect(page.locator("#email-status")).to_have_text("unroutable")
    expect(page.locator(".timeline")).to_contain_text("no notification announced it")
    page.fill("input[name=to]", address)
    page.click("#replay-one")
    expect(page.locator(f'table.plans tr[data-id="{message_id}"]')).to_have_attribute("data-action", "restart")
    page.goto(console.url + f"email/{message_id}")
    expect(page.locator("#email-status")).to_have_text("delivered", timeout=30_000)
    assert [i["message_id"] for i in ops.inbox(target, "gus")] == [message_id]
    assert ops.items_of_email(target, message_id, [address])[0]["user"] == "gus"


def test_a_post_without_the_token_gets_403_and_a_foreign_host_is_refused(console: ConsoleServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", console.port, timeout=10)
    connection.request(
        "POST",
        "/mailboxes",
        body="address=x%40y&user=z",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Host": f"127.0.0.1:{console.port}"},
    )
    assert connection.getresponse().status == 403
    connection.close()
    connection = http.client.HTTPConnection("127.0.0.1", console.port, timeout=10)
    connection.request("GET", "/emails", headers={"Host": "evil.example"})
    refused = connection.getresponse()
    assert refused.status == 421
    assert b"only to its own address" in refused.read()
    connection.close()
