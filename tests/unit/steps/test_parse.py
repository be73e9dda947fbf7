"""Parse on fakes: who the email is for comes from its recorded envelope, never from its headers."""

from __future__ import annotations

import hashlib
import json

import pytest
from fakes import FakeStatus, MemoryStore, Registry
from mail_factory import pdf_bytes, scanner_mail
from mailroom.envelope import Envelope, Verdicts
from mailroom.errors import NoKnownRecipientError, VirusDetectedError
from mailroom.models import Decrypted, Mailbox, Manifest, ObjectRef, Parsed
from mailroom.steps.parse import parse

MID = "0p1k9r5mtb2v3c6u8o4hcs1q7dn0ls5g9e2ioa81"
DOMAIN = "in.example.com"
MIME = (
    f"From: scanner@office.example\r\nTo: alice@{DOMAIN}\r\nSubject: s\r\nX-SES-Virus-Verdict: PASS\r\n\r\nbody\r\n"
).encode()
ALICE = Mailbox(address=f"alice@{DOMAIN}", user="alice", tenant="a")
BOB = Mailbox(address=f"bob@{DOMAIN}", user="bob", tenant="b")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def staged(store: MemoryStore) -> Decrypted:
    store.add("staging", f"mime/{MID}.eml", MIME)
    ref = ObjectRef(bucket="staging", key=f"mime/{MID}.eml", size=len(MIME), sha256="0" * 64)
    return Decrypted(message_id=MID, received_at="2026-12-02T09:00:00.000Z", mime=ref)


def run_parse(envelope: Envelope | None, store: MemoryStore | None = None) -> tuple[Parsed, MemoryStore, FakeStatus]:
    store, status = store if store is not None else MemoryStore(), FakeStatus()
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


def test_every_file_is_staged_under_the_message_id_and_the_output_is_pointers_only() -> None:
    pdf = pdf_bytes(5_000)
    mime = scanner_mail([("scan-0001.pdf", pdf)], to=f"alice@{DOMAIN}")
    store = MemoryStore()
    store.add("staging", f"mime/{MID}.eml", mime)
    status = FakeStatus(records={MID: {"envelope": Envelope((f"alice@{DOMAIN}",))}})
    original = ObjectRef(bucket="staging", key=f"mime/{MID}.eml", size=len(mime), sha256=sha256(mime))
    email = Decrypted(message_id=MID, received_at="2026-12-02T09:00:00.000Z", mime=original)

    def run() -> Parsed:
        return parse(
            email, store=store, registry=Registry.of(ALICE), envelopes=status, staging_bucket="staging", domain=DOMAIN
        )

    result = run()

    key = f"manifests/{MID}.json"
    data = store.data("staging", key)
    assert result == Parsed(
        message_id=MID,
        received_at="2026-12-02T09:00:00.000Z",
        manifest=ObjectRef(bucket="staging", key=key, size=len(data), sha256=sha256(data)),
        mailboxes=1,
        attachments=1,
    )
    manifest = Manifest.model_validate_json(data)
    [attachment] = manifest.attachments
    assert (attachment.filename, attachment.location.key) == ("scan-0001.pdf", f"parts/{MID}/{attachment.index}")
    assert store.data("staging", attachment.location.key) == pdf
    assert attachment.sha256 == attachment.location.sha256 == sha256(pdf)
    assert manifest.text is not None
    assert store.data("staging", manifest.text.key) == b"Please find the scanned document attached."
    assert (manifest.original, manifest.header_message_id, manifest.senders) == (
        original,
        "scan-0001@corp.example",  # the parser keeps the id without its angle brackets
        ["scanner@corp.example"],
    )
    assert "scan-0001" not in repr(result)  # nothing of the email enters the execution history

    store.writes.clear()
    assert run() == result  # a retry overwrites its own keys with the same bytes
    assert sorted(key for _, _, key in store.writes) == sorted(
        [f"parts/{MID}/{attachment.index}", f"parts/{MID}/text", key]
    )
