"""The SQS event source mapping's pollers: one long-polls an idle queue, all of them work a busy one."""

from __future__ import annotations

import io
import json
import threading
import time
from collections import Counter
from typing import Any

from mailroom_cli.local.poller import SqsPoller
from mailroom_cli.local.provision import EventSource

SOURCE = EventSource(
    function="starter",
    queue_url="http://sqs.local/123456789012/incoming",
    queue_arn="arn:aws:sqs:eu-west-1:123456789012:incoming",
    batch_size=10,
    batching_window_seconds=1,
    report_batch_item_failures=True,
    maximum_concurrency=5,
)


class FakeQueue:
    """SQS's ReceiveMessage/DeleteMessageBatch over a list; records which poller thread received."""

    def __init__(self, bodies: list[str], *, per_receive: int) -> None:
        self._lock = threading.Lock()
        self._visible = [{"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": b} for i, b in enumerate(bodies)]
        self._per_receive = per_receive
        self.receives: Counter[str] = Counter()
        self.deleted: list[str] = []

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.receives[threading.current_thread().name] += 1
            count = min(kwargs["MaxNumberOfMessages"], self._per_receive)
            got, self._visible = self._visible[:count], self._visible[count:]
        if not got:
            time.sleep(min(kwargs["WaitTimeSeconds"], 0.02))  # a long poll that found nothing (shortened)
        return {"Messages": got}

    def delete_message_batch(self, **kwargs: Any) -> None:
        with self._lock:
            self.deleted += [e["ReceiptHandle"] for e in kwargs["Entries"]]


class FakeLambda:
    """Invoke: waits (up to a deadline) until ``together`` batches are being handled at once."""

    def __init__(self, together: int) -> None:
        self._barrier = threading.Barrier(together)
        self.together_seen = False
        self.records = 0
        self._lock = threading.Lock()

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.records += len(json.loads(kwargs["Payload"])["Records"])
        if not self.together_seen:
            try:
                self._barrier.wait(timeout=5)
                self.together_seen = True
            except threading.BrokenBarrierError:
                pass
        return {"Payload": io.BytesIO(b'{"batchItemFailures": []}')}


def _until(condition: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_an_idle_queue_is_long_polled_by_one_poller_only() -> None:
    queue = FakeQueue([], per_receive=1)
    poller = SqsPoller(SOURCE, sqs=queue, lambda_client=FakeLambda(1), region="eu-west-1")
    poller.start()
    try:
        assert _until(lambda: queue.receives["sqs-poller-0"] >= 5)
    finally:
        poller.stop()
    assert set(queue.receives) == {"sqs-poller-0"}


def test_a_busy_queue_is_worked_by_every_poller_and_each_message_is_delivered_and_deleted_once() -> None:
    queue = FakeQueue([f"body {i}" for i in range(40)], per_receive=2)
    functions = FakeLambda(together=SOURCE.maximum_concurrency)
    poller = SqsPoller(SOURCE, sqs=queue, lambda_client=functions, region="eu-west-1")
    poller.start()
    try:
        assert _until(lambda: len(queue.deleted) == 40)
        # Empty again: only the first poller keeps polling.
        assert _until(lambda: not poller._active.is_set())
    finally:
        poller.stop()
    assert functions.together_seen  # all five pollers handled a batch at the same time
    assert sorted(queue.deleted) == sorted(f"r{i}" for i in range(40))
    assert functions.records == 40
    assert len(queue.receives) == SOURCE.maximum_concurrency


def test_a_receive_that_brings_fewer_than_asked_ends_the_batch_without_another_receive() -> None:
    queue = FakeQueue(["only one"], per_receive=10)
    poller = SqsPoller(SOURCE, sqs=queue, lambda_client=FakeLambda(1), region="eu-west-1")
    assert poller.poll_once(wait_seconds=0) == 1
    assert sum(queue.receives.values()) == 1
    assert queue.deleted == ["r0"]
