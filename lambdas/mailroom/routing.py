"""Which of our mailboxes an email is for: its envelope recipients, and nothing else.

SES's notification names the RCPT TO addresses the receipt rule matched (``receipt.recipients``).
Header addresses (To, Cc, Delivered-To, X-Original-To, ``Received … for``) are the sender's words
and never add a recipient. Each envelope recipient in our domain that is a registered mailbox
(exact address first, then its untagged form) gives its user one inbox item; two addresses of one
user are one delivery. The rest are counted, never listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailroom.models import Mailbox
from mailroom.ports import MailboxRegistry


def in_domain(address: str, domain: str) -> bool:
    """Whether ``address`` is exactly in ``domain`` (not a subdomain: SES rules match the domain only)."""
    local, at, host = address.rpartition("@")
    return bool(local) and bool(at) and host.lower().rstrip(".") == domain.lower().rstrip(".")


def without_tag(address: str) -> str:
    """``scan+invoices@d`` → ``scan@d`` (subaddressing: a tag reaches the untagged mailbox)."""
    local, _, host = address.rpartition("@")
    base, plus, _ = local.partition("+")
    return f"{base}@{host}" if plus and base else address


# RFC 5321's limit (a 256-octet path, brackets included). No mailbox can have a longer address, and
# DynamoDB would refuse one as a key (2048 bytes) with an error no retry can fix.
MAX_ADDRESS_LENGTH = 254


@dataclass(frozen=True)
class Routing:
    """The mailboxes an email goes to (one per user) and how many envelope recipients had none."""

    mailboxes: list[Mailbox]
    unroutable: int


def candidate_addresses(recipients: Sequence[str], domain: str) -> list[str]:
    """The distinct envelope recipients, lower-case, that could be a mailbox of ours."""
    return list(dict.fromkeys(a.lower() for a in recipients if len(a) <= MAX_ADDRESS_LENGTH and in_domain(a, domain)))


def resolve(addresses: Sequence[str], registry: MailboxRegistry) -> dict[str, Mailbox]:
    """``address → mailbox`` for the registered ones (an exact address wins over its untagged form)."""
    keys = list(dict.fromkeys([*addresses, *(without_tag(a) for a in addresses)]))
    known = {m.address: m for m in registry.lookup(keys)} if keys else {}
    found: dict[str, Mailbox] = {}
    for address in addresses:
        mailbox = known.get(address) or known.get(without_tag(address))
        if mailbox is not None:
            found[address] = mailbox
    return found


def route(recipients: Sequence[str], *, domain: str, registry: MailboxRegistry) -> Routing:
    """Envelope recipients → one mailbox per user, and the count of recipients that are no mailbox."""
    distinct = list(dict.fromkeys(r.lower() for r in recipients))
    found = resolve(candidate_addresses(distinct, domain), registry)
    chosen: dict[str, Mailbox] = {}
    for mailbox in found.values():
        chosen.setdefault(mailbox.user, mailbox)
    return Routing(mailboxes=list(chosen.values()), unroutable=len(distinct) - len(found))
