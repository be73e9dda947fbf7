"""Parse on fakes: who the email is for comes from its recorded envelope, never from its headers."""

from __future__ import annotations

import json

import pytest
from fakes import FakeStatus, MemoryStore, Registry
from mailroom.envelope import Envelope, Verdicts
from mailroom.errors import NoKnownRecipientError, VirusDetectedError
from mailroom.models import Decrypted, Mailbox, ObjectRef, Parsed
from mailroom.steps.parse import parse

MID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
DOMAIN = "in.example.com"
MIME = (
    f"From: scanner@office.example\r\nTo: alice@{DOMAIN}\r\nSubject: s\r\nX-SES-Virus-Verdict: PASS\r\n\r\nbody\r\n"
).encode()
ALICE = Mailbox(address=f"alice@{DOMAIN}", user="alice", tenant="a")
BOB = Mailbox(address=f"bob@{DOMAIN}", user="bob", tenant="b")


def staged(store: MemoryStore) -> Decrypted:
    store.add("staging", f"mime/{MID}.eml", MIME)
    ref = ObjectRef(bucket="staging", key=f"mime/{MID}.eml", size=len(MIME), sha256="0" * 64)
    return Decrypted(message_id=MID, received_at="2026-12-02T09:00:00.000Z", mime=ref)


def run_parse(envelope: Envelope | None, store: MemoryStore | None = None) -> tuple[Parsed, MemoryStore, FakeStatus]:
    store, status = store or MemoryStore(), FakeStatus()
    if envelope is not None:
        status.records[MID] = {"envelope": envelope}
    result = parse(
        staged(store),
        store=store,
        registry=Registry.of(ALICE, BOB),
        envelopes=status,
        staging_bucket="staging",
        domain=DOMAIN,
    )
    return result, store, status


def test_parse_routes_by_the_envelope_not_the_to_header() -> None:
    result, store, status = run_parse(Envelope((f"bob@{DOMAIN}", f"ghost@{DOMAIN}")))

    manifest = json.loads(store.data("staging", f"manifests/{MID}.json"))
    assert [m["user"] for m in manifest["mailboxes"]] == ["bob"]
    assert result.mailboxes == 1
    assert status.unroutable == {MID: 1}


@pytest.mark.parametrize(
    ("envelope", "error"),
    [
        (None, NoKnownRecipientError),  # no notification ever came
        (Envelope((f"ghost@{DOMAIN}",)), NoKnownRecipientError),
        (Envelope((f"alice@{DOMAIN}",), Verdicts(virus="FAIL")), VirusDetectedError),
    ],
)
def test_parse_refuses_what_must_not_be_delivered_and_stages_no_manifest(
    envelope: Envelope | None, error: type[Exception]
) -> None:
    store = MemoryStore()
    with pytest.raises(error) as raised:
        run_parse(envelope, store)

    assert type(raised.value) is error
    assert [key for key in store.keys("staging") if key.startswith("manifests/")] == []


def test_without_notification_verdicts_the_headers_decide() -> None:
    _, store, _ = run_parse(Envelope((f"alice@{DOMAIN}",), verdicts=None))

    manifest = json.loads(store.data("staging", f"manifests/{MID}.json"))
    assert manifest["verdicts"]["virus"] == "PASS"
