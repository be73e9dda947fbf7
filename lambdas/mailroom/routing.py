"""Which of our mailboxes an email is for.

The envelope is the truth: SES's own ``Received`` header (the topmost) names the recipient when the
message had exactly one. Only without it do the header fields (To, Cc, Delivered-To, X-Original-To)
stand in, and then only addresses in our domain count. One inbox item per user: two addresses of
the same user in one email are one delivery.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailroom.errors import NoKnownRecipientError
from mailroom.mime import ParsedEmail
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


# RFC 5321's limit (a 256-octet path, brackets included). A header may name longer ones, which no
# mailbox can have and DynamoDB would refuse as keys (2048 bytes) with an error no retry can fix.
MAX_ADDRESS_LENGTH = 254


def candidate_addresses(email: ParsedEmail, domain: str) -> list[str]:
    """Our-domain recipients, lower-case, envelope first and alone when SES named it."""
    pool = email.envelope_recipients or email.recipients
    return list(dict.fromkeys(a.lower() for a in pool if len(a) <= MAX_ADDRESS_LENGTH and in_domain(a, domain)))


def resolve(addresses: Sequence[str], registry: MailboxRegistry) -> list[Mailbox]:
    """The mailboxes for ``addresses`` (an exact address wins over its untagged form), one per user."""
    keys = list(dict.fromkeys([*addresses, *(without_tag(a) for a in addresses)]))
    known = {m.address: m for m in registry.lookup(keys)}
    chosen: dict[str, Mailbox] = {}
    for address in addresses:
        mailbox = known.get(address) or known.get(without_tag(address))
        if mailbox is not None:
            chosen.setdefault(mailbox.user, mailbox)
    return list(chosen.values())


def route(email: ParsedEmail, *, domain: str, registry: MailboxRegistry) -> list[Mailbox]:
    """The mailboxes ``email`` goes to; none is ``NoKnownRecipientError`` (the email ends Unroutable)."""
    addresses = candidate_addresses(email, domain)
    mailboxes = resolve(addresses, registry) if addresses else []
    if not mailboxes:
        raise NoKnownRecipientError(
            f"none of the {len(addresses)} recipient address(es) in {domain} is a registered mailbox"
        )
    return mailboxes
