"""Bad input through Parse, Archive and Inbox (moto): delivered, or refused with a typed error leaf.

The parser's own fuzzing cannot see what happens after it: a value the parser returns may still
break the manifest (UTF-8 JSON), a DynamoDB key (2 KB) or an inbox item (400 KB). These cases did,
each with an error no Retry or Catch matched (the execution failed at its step on every redrive).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from mail_factory import CRLF, pdf_bytes, scanner_mail
from mailroom.errors import leaf_errors
from mailroom.handlers import archive, inbox, parse
from mailroom.mime import parse_email
from mailroom.routing import MAX_ADDRESS_LENGTH, candidate_addresses
from mailroom.steps.inbox import HEADER_VALUE_LIMIT, SUBJECT_LIMIT
from moto_stack import DOMAIN, STAGING, FakeLambdaContext, Stack, ses_received
from security_helpers import Figures
from test_security_fuzz import FACTORY_SEEDS, structure_mutated

TENANT_B = f"bob@{DOMAIN}"
LEAVES = frozenset(leaf_errors())
PIPELINE_EXAMPLES = max(10, round(int(os.environ.get("MAILROOM_FUZZ_EXAMPLES", "800")) * 0.02))
IDS = iter(f"{n:08d}" + "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls" for n in range(10**8))  # 40 chars of [0-9a-v]


def deliver(
    stack: Stack,
    context: FakeLambdaContext,
    mime: bytes,
    message_id: str | None = None,
    recipients: tuple[str, ...] = (TENANT_B,),
) -> tuple[str, list[dict[str, Any]]]:
    """Parse → Archive → Inbox from the decrypted MIME in staging, SES's envelope naming ``recipients``:
    ``(status | errorType, outputs)``."""
    payload: dict[str, Any] = stack.stage_mime(mime, message_id or next(IDS), recipients=list(recipients))
    outputs = []
    for handler in (parse.handler, archive.handler, inbox.handler):
        try:
            payload = json.loads(json.dumps(handler(payload, context)))
        except Exception as exc:  # the Lambda runtime's errorType
            return type(exc).__name__, outputs
        outputs.append(payload)
    return str(payload["status"]), outputs


@pytest.fixture
def bob(stack: Stack) -> Stack:
    stack.add_mailbox(TENANT_B, "bob", tenant="tenant-b")
    return stack


@pytest.mark.parametrize(
    "header",
    [f"Message-ID: <{'x' * 500_000}@corp.example>", f"From: <{'x' * 500_000}@corp.example>"],
    ids=["message-id", "from"],
)
def test_a_half_megabyte_message_id_or_sender_is_delivered_not_a_failed_inbox_write(
    bob: Stack, context: FakeLambdaContext, header: str, figures: Figures
) -> None:
    # Was: ClientError (ValidationException: item size exceeded) at Inbox, on every redrive.
    mime = ses_received(
        f"{header}{CRLF}To: {TENANT_B}{CRLF}Subject: hi{CRLF}{CRLF}body{CRLF}".encode(), envelope_to=TENANT_B
    )

    outcome, _ = deliver(bob, context, mime)

    assert outcome == "delivered"
    [item] = bob.inbox("bob")
    assert len(item.get("from") or "") <= 998
    assert len(item.get("header_message_id") or "") <= 998
    figures.record("pipeline (handlers on moto)", f"{header.split(':')[0]} of 500 KB", outcome=outcome)


def test_text_that_decodes_to_lone_surrogates_is_delivered_as_replacement_characters(
    bob: Stack, context: FakeLambdaContext, figures: Figures
) -> None:
    # Was: UnicodeEncodeError at Parse (staging the body) or PydanticSerializationError (the manifest).
    mime = (
        f"From: =?utf-7?q?+2AA-?= <a@example.com>{CRLF}To: {TENANT_B}{CRLF}Subject: =?unicode_escape?q?\\ud800?={CRLF}"
        f'Content-Type: multipart/mixed; boundary="s"{CRLF}{CRLF}--s{CRLF}Content-Type: text/plain; charset=utf-7'
        f"{CRLF}{CRLF}hello +2AA- world{CRLF}--s{CRLF}Content-Type: application/pdf{CRLF}"
        f"Content-Disposition: attachment; filename*=utf-7''%2B2AA-.pdf{CRLF}{CRLF}%PDF-1.4{CRLF}--s--{CRLF}"
    ).encode()

    outcome, _ = deliver(bob, context, ses_received(mime, envelope_to=TENANT_B))

    assert outcome == "delivered"
    [item] = bob.inbox("bob")
    assert item["subject"] == "\ufffd"
    figures.record("pipeline (handlers on moto)", "utf-7 / unicode_escape decoding to lone surrogates", outcome=outcome)


def test_an_address_longer_than_smtp_allows_is_never_looked_up(bob: Stack, context: FakeLambdaContext) -> None:
    # A 2 KB key makes DynamoDB's BatchGetItem fail with a ValidationException (moto does not check it).
    long = f"{'x' * 3000}@{DOMAIN}"
    mime = ses_received(
        f"From: a@example.com{CRLF}To: {long}, {TENANT_B}{CRLF}{CRLF}hi{CRLF}".encode(), envelope_to=None
    )

    assert candidate_addresses([long, TENANT_B], DOMAIN) == [TENANT_B]
    assert all(len(a) <= MAX_ADDRESS_LENGTH for a in candidate_addresses([long, TENANT_B], DOMAIN))
    assert deliver(bob, context, mime, recipients=(long, TENANT_B))[0] == "delivered"


PIPELINE_SEED = scanner_mail([("scan.pdf", pdf_bytes(2_000, seed=4))], to=TENANT_B)  # what the fuzz mutates first
SEED = ses_received(PIPELINE_SEED, envelope_to=TENANT_B)


def items_of(stack: Stack, message_id: str) -> list[dict[str, Any]]:
    """bob's inbox items for one SES message."""
    return [i for i in stack.inbox("bob") if i["message_id"] == message_id]


def assert_delivered_as_parsed(stack: Stack, message_id: str, mime: bytes, outputs: list[dict[str, Any]]) -> None:
    """bob has one item for the email, and it (and the archive) holds what the parser finds in the MIME."""
    assert (outputs[-1]["items"], outputs[-1]["new_items"]) == (1, 1)  # Inbox's own answer: one user, new
    [item] = items_of(stack, message_id)
    parsed = parse_email(mime)
    assert (item["mailbox"], item["tenant"]) == (TENANT_B, "tenant-b")
    assert item["subject"] == (parsed.subject or "")[:SUBJECT_LIMIT]
    assert item.get("header_message_id") == ((parsed.message_id or "")[:HEADER_VALUE_LIMIT] or None)
    manifest = json.loads(stack.read(item["archive_bucket"], item["manifest_key"]))
    files = manifest["attachments"]
    assert len(files) == len(parsed.attachments) == item["attachment_count"]
    for file, attachment in zip(files, parsed.attachments, strict=True):
        assert (file["filename"], file["safe_filename"], file["size"], file["sha256"]) == (
            attachment.filename,
            attachment.safe_filename,
            attachment.size,
            attachment.sha256,
        )
        archived = stack.read(file["location"]["bucket"], file["location"]["key"])
        assert (len(archived), hashlib.sha256(archived).hexdigest()) == (attachment.size, attachment.sha256)
    if item["attachments"] is not None:  # None only past the item's list limit: the manifest has it
        listed = [(a["safe_filename"], a["size"], a["sha256"], a["key"]) for a in item["attachments"]]
        assert listed == [(f["safe_filename"], f["size"], f["sha256"], f["location"]["key"]) for f in files]


def assert_duplicate_of_an_item_in_the_inbox(stack: Stack, message_id: str, outputs: list[dict[str, Any]]) -> None:
    """A retransmission of an email bob already has: no item of its own, and the one it names exists."""
    assert (outputs[-1]["items"], outputs[-1]["new_items"]) == (0, 0)
    assert items_of(stack, message_id) == []
    record = stack.status(message_id)
    assert record is not None
    assert record["status"] == "duplicate"
    assert len(items_of(stack, record["duplicate_of"])) == 1


@settings(
    max_examples=PIPELINE_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(raw=structure_mutated(seeds=[PIPELINE_SEED, *FACTORY_SEEDS]))
def test_structurally_mutated_mail_for_a_mailbox_is_delivered_as_parsed_or_refused_with_a_typed_error(
    bob: Stack, context: FakeLambdaContext, raw: bytes, figures: Figures
) -> None:
    # SES's headers on top, naming bob: every mutation that still parses is routed, archived and listed.
    message_id = next(IDS)
    mime = ses_received(raw, envelope_to=TENANT_B)
    outcome, outputs = deliver(bob, context, mime, message_id)

    row = "structural mutations, Parse > Archive > Inbox"
    figures.add("pipeline (handlers on moto)", row, "examples")
    if outcome == "delivered":
        assert_delivered_as_parsed(bob, message_id, mime, outputs)
        figures.add("pipeline (handlers on moto)", row, "delivered")
    elif outcome == "duplicate":
        assert_duplicate_of_an_item_in_the_inbox(bob, message_id, outputs)
        figures.add("pipeline (handlers on moto)", row, "duplicates")
    else:
        assert outcome in LEAVES, outcome
        assert items_of(bob, message_id) == []
        figures.add("pipeline (handlers on moto)", row, "typed_errors")


def test_the_pipeline_fuzz_seed_is_delivered_as_parsed(bob: Stack, context: FakeLambdaContext) -> None:
    message_id = next(IDS)
    outcome, outputs = deliver(bob, context, SEED, message_id)

    assert outcome == "delivered"
    assert_delivered_as_parsed(bob, message_id, SEED, outputs)
    assert len(parse_email(SEED).attachments) == 1
    assert bob.keys(STAGING)


def test_a_retransmission_of_the_seed_is_a_duplicate_of_the_first(bob: Stack, context: FakeLambdaContext) -> None:
    first, again = next(IDS), next(IDS)
    assert deliver(bob, context, SEED, first)[0] == "delivered"

    outcome, outputs = deliver(bob, context, SEED, again)

    assert outcome == "duplicate"
    assert_duplicate_of_an_item_in_the_inbox(bob, again, outputs)
    record = bob.status(again)
    assert record is not None
    assert record["duplicate_of"] == first
