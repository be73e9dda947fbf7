"""Which mailboxes an email reaches: its envelope recipients only, our domain only, subaddresses, one
item per user, and a count of the recipients that are no mailbox."""

from __future__ import annotations

from collections.abc import Sequence

from mailroom.models import Mailbox
from mailroom.routing import MAX_ADDRESS_LENGTH, candidate_addresses, in_domain, route, without_tag

DOMAIN = "in.example.com"


class Registry:
    def __init__(self, *mailboxes: Mailbox) -> None:
        self.by_address = {m.address: m for m in mailboxes}
        self.asked: list[str] = []

    def lookup(self, addresses: Sequence[str]) -> list[Mailbox]:
        self.asked.extend(addresses)
        return [self.by_address[a] for a in addresses if a in self.by_address]


ALICE = Mailbox(address=f"alice@{DOMAIN}", user="alice", tenant="a")
BOB = Mailbox(address=f"bob@{DOMAIN}", user="bob", tenant="b")


def test_every_registered_envelope_recipient_gets_one_mailbox_in_envelope_order() -> None:
    routing = route([f"bob@{DOMAIN}", f"alice@{DOMAIN}"], domain=DOMAIN, registry=Registry(ALICE, BOB))

    assert routing.mailboxes == [BOB, ALICE]
    assert routing.unroutable == 0


def test_recipients_are_matched_without_regard_to_case_and_counted_once() -> None:
    routing = route([f"BOB@{DOMAIN.upper()}", f"bob@{DOMAIN}"], domain=DOMAIN, registry=Registry(BOB))

    assert routing.mailboxes == [BOB]
    assert routing.unroutable == 0


def test_a_subdomain_is_not_our_domain() -> None:
    assert in_domain(f"a@{DOMAIN}", DOMAIN)
    assert not in_domain(f"a@sub.{DOMAIN}", DOMAIN)
    assert not in_domain(f"a@evil{DOMAIN}", DOMAIN)
    assert not in_domain(DOMAIN, DOMAIN)


def test_a_tagged_address_reaches_the_untagged_mailbox_unless_the_tagged_one_exists() -> None:
    assert without_tag(f"alice+invoices@{DOMAIN}") == f"alice@{DOMAIN}"
    assert without_tag(f"+x@{DOMAIN}") == f"+x@{DOMAIN}"
    tagged = Mailbox(address=f"alice+scans@{DOMAIN}", user="scanner-bot", tenant="a")

    routing = route([f"alice+scans@{DOMAIN}", f"alice+other@{DOMAIN}"], domain=DOMAIN, registry=Registry(ALICE, tagged))

    assert routing.mailboxes == [tagged, ALICE]


def test_two_addresses_of_one_user_make_one_delivery_and_neither_is_unroutable() -> None:
    second = Mailbox(address=f"scans@{DOMAIN}", user="alice", tenant="a")

    routing = route([f"alice@{DOMAIN}", f"scans@{DOMAIN}"], domain=DOMAIN, registry=Registry(ALICE, second))

    assert routing.mailboxes == [ALICE]
    assert routing.unroutable == 0


def test_unregistered_and_foreign_recipients_are_counted_and_foreign_ones_never_looked_up() -> None:
    registry = Registry(ALICE)

    routing = route(
        [f"alice@{DOMAIN}", f"nobody@{DOMAIN}", "alice@elsewhere.example", f"a@sub.{DOMAIN}"],
        domain=DOMAIN,
        registry=registry,
    )

    assert routing.mailboxes == [ALICE]
    assert routing.unroutable == 3
    assert len(registry.asked) > 0
    assert all(a.endswith(f"@{DOMAIN}") for a in registry.asked)


def test_no_registered_recipient_routes_nowhere() -> None:
    routing = route([f"nobody@{DOMAIN}"], domain=DOMAIN, registry=Registry(ALICE))

    assert routing.mailboxes == []
    assert routing.unroutable == 1


def test_an_address_longer_than_smtp_allows_is_never_looked_up() -> None:
    long = f"{'x' * 300}@{DOMAIN}"
    registry = Registry(ALICE)

    routing = route([long, f"alice@{DOMAIN}"], domain=DOMAIN, registry=registry)

    assert candidate_addresses([long], DOMAIN) == []
    assert routing.mailboxes == [ALICE]
    assert routing.unroutable == 1
    assert len(registry.asked) > 0
    assert all(len(a) <= MAX_ADDRESS_LENGTH for a in registry.asked)
