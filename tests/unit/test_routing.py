"""Which mailboxes an email reaches: envelope first, our domain only, subaddresses, one item per user."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from mailroom.errors import NoKnownRecipientError
from mailroom.mime import parse_email
from mailroom.models import Mailbox
from mailroom.routing import candidate_addresses, in_domain, route, without_tag

DOMAIN = "in.example.com"


class Registry:
    def __init__(self, *mailboxes: Mailbox) -> None:
        self.by_address = {m.address: m for m in mailboxes}
        self.asked: list[str] = []

    def lookup(self, addresses: Sequence[str]) -> list[Mailbox]:
        self.asked.extend(addresses)
        return [self.by_address[a] for a in addresses if a in self.by_address]


def _mail(headers: str) -> bytes:
    return (headers.strip() + "\r\nSubject: s\r\n\r\nbody\r\n").replace("\n", "\r\n").replace("\r\r", "\r").encode()


ALICE = Mailbox(address=f"alice@{DOMAIN}", user="alice", tenant="a")
BOB = Mailbox(address=f"bob@{DOMAIN}", user="bob", tenant="b")


def test_the_ses_received_header_names_the_envelope_recipient_and_it_alone_counts() -> None:
    # Tenant isolation: the header To lists alice (tenant a), but SES received it for bob (tenant b).
    email = parse_email(
        _mail(
            f"Received: from mx (mx [192.0.2.1]) by inbound-smtp.eu-west-1.amazonaws.com with SMTP id x\r\n"
            f" for bob@{DOMAIN}; Fri, 27 Nov 2026 10:00:00 +0000\r\nTo: alice@{DOMAIN}\r\nFrom: x@example.org"
        )
    )
    assert candidate_addresses(email, DOMAIN) == [f"bob@{DOMAIN}"]
    assert route(email, domain=DOMAIN, registry=Registry(ALICE, BOB)) == [BOB]


def test_without_an_envelope_recipient_the_header_recipients_in_our_domain_count() -> None:
    email = parse_email(_mail(f"To: alice@{DOMAIN}, carol@other.example\r\nCc: BOB@{DOMAIN.upper()}\r\nFrom: x@y.z"))
    assert candidate_addresses(email, DOMAIN) == [f"alice@{DOMAIN}", f"bob@{DOMAIN}"]
    assert route(email, domain=DOMAIN, registry=Registry(ALICE, BOB)) == [ALICE, BOB]


def test_a_subdomain_is_not_our_domain() -> None:
    assert in_domain(f"a@{DOMAIN}", DOMAIN)
    assert not in_domain(f"a@sub.{DOMAIN}", DOMAIN)
    assert not in_domain(f"a@evil{DOMAIN}", DOMAIN)
    assert not in_domain(DOMAIN, DOMAIN)


def test_a_tagged_address_reaches_the_untagged_mailbox_unless_the_tagged_one_exists() -> None:
    assert without_tag(f"alice+invoices@{DOMAIN}") == f"alice@{DOMAIN}"
    assert without_tag(f"+x@{DOMAIN}") == f"+x@{DOMAIN}"
    tagged = Mailbox(address=f"alice+scans@{DOMAIN}", user="scanner-bot", tenant="a")
    email = parse_email(_mail(f"To: alice+scans@{DOMAIN}, alice+other@{DOMAIN}\r\nFrom: x@y.z"))
    assert route(email, domain=DOMAIN, registry=Registry(ALICE, tagged)) == [tagged, ALICE]


def test_two_addresses_of_one_user_make_one_delivery() -> None:
    second = Mailbox(address=f"scans@{DOMAIN}", user="alice", tenant="a")
    email = parse_email(_mail(f"To: alice@{DOMAIN}, scans@{DOMAIN}\r\nFrom: x@y.z"))
    assert route(email, domain=DOMAIN, registry=Registry(ALICE, second)) == [ALICE]


def test_no_registered_mailbox_is_unroutable_and_other_domains_are_never_looked_up() -> None:
    registry = Registry(ALICE)
    email = parse_email(_mail(f"To: nobody@{DOMAIN}, alice@elsewhere.example\r\nFrom: x@y.z"))
    with pytest.raises(NoKnownRecipientError, match="none of the 1 recipient"):
        route(email, domain=DOMAIN, registry=registry)
    assert all(a.endswith(f"@{DOMAIN}") for a in registry.asked)
