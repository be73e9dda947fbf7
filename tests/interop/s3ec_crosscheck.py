"""Cross-check the SES format against AWS's official S3 encryption client, offline on moto.

The official client (PyPI ``amazon-s3-encryption-client-python``) pins ``cryptography<49``, so it
lives in its own venv, never the project's; this script is not collected by pytest:

    python3.11 -m venv .venv-tools/s3ec
    .venv-tools/s3ec/bin/pip install amazon-s3-encryption-client-python 'moto>=5.2.5'
    .venv-tools/s3ec/bin/python tests/interop/s3ec_crosscheck.py

It checks both directions the official client allows. It cannot *write* SES's format (it only
encrypts with the ``kms+context`` wrap), but with legacy wrapping enabled it *reads* it: so
(1) objects from our SES producer must decrypt in the official client, and (2) what the official
client writes (``kms+context`` V2, committing V3) is not SES's format and our decrypt refuses it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "lambdas"), str(ROOT / "src")]
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="eu-west-1",
    AWS_EC2_METADATA_DISABLED="true",
)

import boto3  # noqa: E402
from mailroom.adapters.kms import KmsKeyService  # noqa: E402
from mailroom.adapters.s3 import S3BlobStore  # noqa: E402
from mailroom.crypto import decrypt_ses_object  # noqa: E402
from mailroom.errors import MailroomError  # noqa: E402
from moto import mock_aws  # noqa: E402
from s3_encryption import S3EncryptionClient, S3EncryptionClientConfig  # noqa: E402
from s3_encryption.materials.kms_keyring import KmsKeyring  # noqa: E402
from s3_encryption.materials.materials import AlgorithmSuite, CommitmentPolicy  # noqa: E402

from mailroom_cli.local.ses_producer import (  # noqa: E402
    KmsDataKeys,
    MemorySink,
    encrypt_for_ses,
    new_ses_message_id,
)

ACCOUNT = "123456789012"
BUCKET = "crosscheck-incoming"


def main() -> int:
    """Run both directions; exit non-zero on any disagreement."""
    failures = 0
    with mock_aws():
        s3, kms = boto3.client("s3"), boto3.client("kms")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        key_arn = kms.create_key()["KeyMetadata"]["Arn"]
        keys = KmsKeyService(kms)

        # The official client hooks every call of the client it wraps: it gets its own.
        official = S3EncryptionClient(
            wrapped_s3_client=boto3.client("s3"),
            config=S3EncryptionClientConfig(
                keyring=KmsKeyring(kms_client=kms, kms_key_id=key_arn, enable_legacy_wrapping_algorithms=True),
                encryption_algorithm=AlgorithmSuite.ALG_AES_256_GCM_IV12_TAG16_NO_KDF,
                commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT,
            ),
        )
        for size in (0, 1, 4096, 5 * 1024 * 1024 + 3):
            plaintext = os.urandom(size)
            message_id = new_ses_message_id()
            obj = encrypt_for_ses(
                plaintext,
                key_service=KmsDataKeys(kms),
                kms_key_id=key_arn,
                message_id=message_id,
                rule_name="crosscheck",
                account_id=ACCOUNT,
            )
            s3.put_object(Bucket=BUCKET, Key=f"inbound/{message_id}", Body=obj.body.read(), Metadata=obj.metadata)
            decrypted = official.get_object(Bucket=BUCKET, Key=f"inbound/{message_id}")["Body"].read()
            ok = decrypted == plaintext
            failures += not ok
            print(f"producer -> official client, {size} bytes: {'same plaintext' if ok else 'MISMATCH'}")

        for name, algorithm, policy in (
            ("V2 kms+context", AlgorithmSuite.ALG_AES_256_GCM_IV12_TAG16_NO_KDF, "FORBID_ENCRYPT_ALLOW_DECRYPT"),
            ("V3 committing", AlgorithmSuite.ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY, None),
        ):
            config = S3EncryptionClientConfig(
                keyring=KmsKeyring(kms_client=kms, kms_key_id=key_arn),
                encryption_algorithm=algorithm,
                **({"commitment_policy": CommitmentPolicy[policy]} if policy else {}),
            )
            message_id = new_ses_message_id()
            key = f"inbound/{message_id}"
            S3EncryptionClient(wrapped_s3_client=boto3.client("s3"), config=config).put_object(
                Bucket=BUCKET, Key=key, Body=b"not from SES"
            )
            store, sink = S3BlobStore(s3), MemorySink()
            try:
                with store.open_object(BUCKET, key) as stored:
                    decrypt_ses_object(
                        stored.body,
                        metadata=stored.metadata,
                        size=stored.size,
                        keys=keys,
                        sink=sink,
                        expected_account=ACCOUNT,
                        expected_message_id=message_id,
                    )
                outcome, ok = "ACCEPTED", False
            except MailroomError as exc:
                outcome, ok = f"refused: {type(exc).__name__} ({exc})", sink.value is None
            failures += not ok
            print(f"official client {name} -> our decrypt: {outcome}")
    print("crosscheck:", "OK" if failures == 0 else f"{failures} FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
