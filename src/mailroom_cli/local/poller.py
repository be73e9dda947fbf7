"""An SQS event source mapping, emulated: what AWS's Lambda poller does for the Starter.

Long-polls the queue with up to ``MaximumConcurrency`` pollers, invokes the function (through the
Lambda API, so the call is the same one AWS would make) with the SQS event shape, deletes what
succeeded and leaves the rest to reappear after the visibility timeout. A message received
``maxReceiveCount`` times goes to the DLQ by the queue's own redrive policy (moto implements it).

While the queue is idle only the first poller long-polls it; the others join when it finds
messages, and go back to waiting when the queue is empty again, as AWS's pollers scale ("For
standard queues, Lambda uses long polling to poll a queue until it becomes active. When messages
are available, Lambda starts processing five batches at a time", Lambda Developer Guide,
"Configuring scaling behavior for SQS event source mappings"). Five pollers long-polling an idle
queue made five receives a second, more requests to the emulator than the emails themselves.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from mailroom_cli.local.provision import EventSource

log = logging.getLogger(__name__)


class SqsPoller:
    """Pollers for one event source; ``stop`` ends them after their current batch."""

    def __init__(self, source: EventSource, *, sqs: Any, lambda_client: Any, region: str) -> None:
        self.source = source
        self._sqs = sqs
        self._lambda = lambda_client
        self._region = region
        self._stopping = threading.Event()
        self._active = threading.Event()  # the queue had messages: every poller polls, not only the first
        self._threads: list[threading.Thread] = []
        self.batches = 0

    def start(self) -> None:
        """Start the pollers."""
        for n in range(max(1, self.source.maximum_concurrency)):
            thread = threading.Thread(target=self._run, args=(n == 0,), name=f"sqs-poller-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling; wait for batches in progress."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout)

    def _run(self, first: bool) -> None:
        while not self._stopping.is_set():
            if not first and not self._active.wait(0.5):
                continue  # idle: the first poller watches the queue
            try:
                if not self.poll_once(wait_seconds=1) and not first:
                    self._active.clear()  # the queue is empty again: back to one poller
            except Exception:
                log.exception("SQS poller round failed; polling again")
                self._stopping.wait(1.0)

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Receive one batch, invoke the function, delete what it did not report as failed."""
        messages = self._receive(wait_seconds)
        if not messages:
            return 0
        self._active.set()
        event = {"Records": [self._record(m) for m in messages]}
        response = self._lambda.invoke(FunctionName=self.source.function, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"null")
        self.batches += 1
        if response.get("FunctionError"):
            # The whole batch failed: every message becomes visible again after the timeout.
            log.warning("%s failed a batch of %d (%s)", self.source.function, len(messages), payload.get("errorType"))
            return len(messages)
        failed: set[str] = set()
        if self.source.report_batch_item_failures and isinstance(payload, dict):
            failed = {f["itemIdentifier"] for f in payload.get("batchItemFailures") or []}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self._sqs.delete_message_batch(
                QueueUrl=self.source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        return len(messages)

    def _receive(self, wait_seconds: int) -> list[dict[str, Any]]:
        wanted = self.source.batch_size
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.source.batching_window_seconds
        while len(messages) < wanted:
            asked = min(10, wanted - len(messages))
            response = self._sqs.receive_message(
                QueueUrl=self.source.queue_url,
                MaxNumberOfMessages=asked,
                WaitTimeSeconds=wait_seconds if not messages else 0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            got = response.get("Messages", [])
            messages.extend(got)
            # Fewer than asked for: nothing else was visible, so another receive would come back empty.
            if len(got) < asked or time.monotonic() >= deadline:
                break
        return messages

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source.queue_arn,
            "awsRegion": self._region,
        }
