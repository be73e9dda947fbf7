"""Bad input through Parse, Archive and Inbox (moto): delivered, or refused with a typed error leaf.

The parser's own fuzzing cannot see what happens after it: a value the parser returns may still
break the manifest (UTF-8 JSON), a DynamoDB key (2 KB) or an inbox item (400 KB). These cases did,
each with an error no Retry or Catch matched (the execution failed at its step on every redrive).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from mail_factory import CRLF, pdf_bytes, scanner_mail
from mailroom.errors import leaf_errors
from mailroom.handlers import archive, inbox, parse
from mailroom.routing import MAX_ADDRESS_LENGTH, candidate_addresses
from moto_stack import DOMAIN, STAGING, FakeLambdaContext, Stack, ses_received
from security_helpers import Figures
from test_security_fuzz import structure_mutated

TENANT_B = f"bob@{DOMAIN}"
LEAVES = frozenset(leaf_errors())
PIPELINE_EXAMPLES = max(10, round(int(os.environ.get("MAILROOM_FUZZ_EXAMPLES", "800")) * 0.02))
IDS = iter(f"{n:08d}" + "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls" for n in range(10**8))  # 40 chars of [0-9a-v]


def deliver(
    stack: Stack, context: FakeLambdaContext, mime: bytes, recipients: tuple[str, ...] = (TENANT_B,)
) -> tuple[str, list[dict[str, Any]]]:
    """Parse → Archive → Inbox from the decrypted MIME in staging, SES's envelope naming ``recipients``:
    ``(status | errorType, outputs)``."""
    payload: dict[str, Any] = stack.stage_mime(mime, next(IDS), recipients=list(recipients))
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
    assert deliver(bob, context, mime, (long, TENANT_B))[0] == "delivered"


SEED = ses_received(scanner_mail([("scan.pdf", pdf_bytes(2_000, seed=4))], to=TENANT_B), envelope_to=TENANT_B)


@settings(
    max_examples=PIPELINE_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(raw=structure_mutated())
def test_structurally_mutated_mail_for_a_mailbox_is_delivered_or_refused_with_a_typed_error(
    bob: Stack, context: FakeLambdaContext, raw: bytes, figures: Figures
) -> None:
    # SES's headers on top, naming bob: every mutation that still parses is routed, archived and listed.
    outcome, _ = deliver(bob, context, ses_received(raw, envelope_to=TENANT_B))

    assert outcome in ("delivered", "duplicate") or outcome in LEAVES, outcome
    figures.add("pipeline (handlers on moto)", "structural mutations, Parse > Archive > Inbox", "examples")
    key = "delivered" if outcome in ("delivered", "duplicate") else "typed_errors"
    figures.add("pipeline (handlers on moto)", "structural mutations, Parse > Archive > Inbox", key)


def test_the_pipeline_fuzz_seed_is_delivered(bob: Stack, context: FakeLambdaContext) -> None:
    assert deliver(bob, context, SEED)[0] == "delivered"
    assert bob.keys(STAGING)
