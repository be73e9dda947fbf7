"""moto_patches: every patch applied once however often it is installed, and moto itself again after."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from moto.awslambda.models import LambdaFunction
from moto.dynamodb.responses import DynamoHandler
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from mailroom_cli.local import moto_patches

_TASK = "moto.stepfunctions.parser.asl.component.state.exec.state_task"
# (owner, attribute) for a sample of the patches: classes and module-level imports alike.
PATCHED = [
    (StepFunctionsParserBackend, "start_execution"),
    (DynamoHandler, "update_item"),
    (LambdaFunction, "invoke"),
    (importlib.import_module(f"{_TASK}.lambda_eval_utils"), "boto_client_for"),
    (importlib.import_module("moto.stepfunctions.parser.asl.component.common.retry.retrier_decl"), "time"),
]


def _current() -> list[Any]:
    return [vars(owner).get(name) for owner, name in PATCHED]


def test_installing_twice_patches_once_and_the_last_uninstall_restores_moto() -> None:
    assert not moto_patches.installed()  # no stack is running in this module
    originals = _current()
    first = moto_patches.install()
    patched = _current()
    assert all(p is not o for p, o in zip(patched, originals, strict=True))
    second = moto_patches.install()
    assert _current() == patched  # not wrapped a second time
    first()
    first()  # twice is harmless
    assert _current() == patched  # still installed for the second
    second()
    assert _current() == originals
    assert not moto_patches.installed()


def test_the_latest_hook_answers_until_it_is_undone() -> None:
    first = moto_patches.install(sleep=lambda seconds: None)
    later_sleep = lambda seconds: None  # noqa: E731 - identity matters here
    second = moto_patches.install(sleep=later_sleep)
    try:
        assert moto_patches.hook("sleep") is later_sleep
        second()
        assert moto_patches.hook("sleep") is not later_sleep
        assert moto_patches.hook("sleep") is not None
    finally:
        first()
        second()
    assert moto_patches.hook("sleep") is None


def test_an_unknown_hook_is_refused() -> None:
    with pytest.raises(TypeError, match="bogus"):
        moto_patches.install(bogus=lambda: None)
    assert not moto_patches.installed()


def test_copy_object_with_if_none_match_writes_nothing_over_an_existing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from botocore.exceptions import ClientError
    from moto import mock_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    undo = moto_patches.install()
    try:
        with mock_aws():
            s3 = boto3.client("s3", region_name="eu-west-1")
            s3.create_bucket(Bucket="conditional-copy", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            s3.put_object(Bucket="conditional-copy", Key="source", Body=b"new bytes")
            s3.put_object(Bucket="conditional-copy", Key="taken", Body=b"old bytes")
            source = {"Bucket": "conditional-copy", "Key": "source"}

            with pytest.raises(ClientError) as refused:
                s3.copy_object(Bucket="conditional-copy", Key="taken", CopySource=source, IfNoneMatch="*")
            s3.copy_object(Bucket="conditional-copy", Key="free", CopySource=source, IfNoneMatch="*")

            assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
            assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
            assert s3.get_object(Bucket="conditional-copy", Key="taken")["Body"].read() == b"old bytes"
            assert s3.get_object(Bucket="conditional-copy", Key="free")["Body"].read() == b"new bytes"
    finally:
        undo()
