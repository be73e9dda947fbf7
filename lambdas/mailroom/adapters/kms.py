"""KeyService on AWS KMS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import boto3

from mailroom.adapters.aws_errors import translated_kms_errors

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient


class KmsKeyService:
    """Wraps and unwraps data keys with KMS; ``key_id`` pins Decrypt to the one key we trust."""

    def __init__(self, client: KMSClient | None = None, *, key_id: str | None = None) -> None:
        self._client: KMSClient = client if client is not None else boto3.client("kms")
        self._key_id = key_id

    def decrypt_data_key(self, ciphertext_blob: bytes, context: Mapping[str, str]) -> bytes:
        """Unwrap a data key under ``context`` (for SES objects: the whole material description)."""
        with translated_kms_errors(operation="Decrypt", key_id=self._key_id):
            if self._key_id is None:
                response = self._client.decrypt(CiphertextBlob=ciphertext_blob, EncryptionContext=dict(context))
            else:
                # Without KeyId, KMS uses whichever key the blob names; pinning it makes a blob
                # wrapped under any other key fail instead of relying on IAM alone.
                response = self._client.decrypt(
                    CiphertextBlob=ciphertext_blob, EncryptionContext=dict(context), KeyId=self._key_id
                )
        return response["Plaintext"]
