"""The local stack: moto over HTTP, the template's resources, our handlers as its Lambdas, SMTP as SES.

One process holds the emulation: the moto server (with its Step Functions interpreter running the
real ASL), the Lambda runtime, the SQS pollers standing in for event source mappings, and the SMTP
listener playing SES; the handlers run in each function's execution environments, processes of
their own that the runtime starts and ends. State lives as long as the process does.

The handlers, the tests and the CLI call moto over HTTP (``client``); the emulator's own calls, which
are service-internal on AWS (SES, the pollers, the interpreter, the status-change events), are
served in process (``internal_client``, transport.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from mailroom_cli.local import mocking, moto_patches, transport
from mailroom_cli.local.control import ControlServer
from mailroom_cli.local.events import StatusChangeWatcher
from mailroom_cli.local.iam import FunctionIdentities
from mailroom_cli.local.poller import SqsPoller
from mailroom_cli.local.provision import Provisioned, provision, template_path
from mailroom_cli.local.runtime import Invocation, LocalRuntime
from mailroom_cli.local.smtp import SesSmtpListener, SesSmtpSettings
from mailroom_cli.local.template import SamTemplate
from mailroom_cli.state import write_state

log = logging.getLogger(__name__)

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "eu-west-1"
DEFAULT_DOMAIN = "in.mailroom.localhost"
STACK_NAME = "mailroom-local"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
}


@dataclass
class LocalOptions:
    """How to run the local stack."""

    host: str = "127.0.0.1"
    aws_port: int = 4566
    smtp_port: int = 2525
    domain: str = DEFAULT_DOMAIN
    retry_scale: float = 1.0  # 1.0: backoff waits as the ASL asks; --fast-retries makes them tiny
    template: Path | None = None
    state_file: Path | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    lambda_log: Path | None = None  # where handlers' stdout (logs, metrics) goes; None: the terminal
    mock_config: Path | None = None  # a Step Functions Local mock file (else $SFN_MOCK_CONFIG)
    allow_plaintext: bool = False  # SMTP without STARTTLS (the deployed rule refuses it)
    enforce_iam: bool = True  # each function calls AWS under its own role from the template (local/iam.py)


class RetryClock:
    """Stands in for ``time`` in moto's retrier: records each requested wait, sleeps it scaled."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.requested: list[float] = []
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds × scale`` (the unscaled value is recorded)."""
        with self._lock:
            self.requested.append(seconds)
        time.sleep(seconds * self.scale)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class LocalStack:
    """Start with ``start()`` (or as a context manager); ``info`` says where everything is."""

    def __init__(self, options: LocalOptions | None = None) -> None:
        self.options = options or LocalOptions()
        self.runtime = LocalRuntime()
        self.retry_clock = RetryClock(self.options.retry_scale)
        self.provisioned = Provisioned()
        self.template: SamTemplate | None = None
        self.smtp: SesSmtpListener | None = None
        self.pollers: list[SqsPoller] = []
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._patched: list[Callable[[], None]] = []
        self._clients: dict[tuple[str, bool], Any] = {}  # (service, internal) → client
        self._clients_lock = threading.RLock()
        self._session: boto3.session.Session | None = None
        self.control: ControlServer | None = None
        self.events: StatusChangeWatcher | None = None
        self.identities: FunctionIdentities | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LocalStack:
        """Bring the whole stack up; on any failure, take down what was started."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from moto.core.config import default_user_config

        from mailroom_cli.local.http_server import MotoHttpServer

        opts = self.options
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per HTTP request otherwise
        # moto logs every failed state with the whole parsed definition; histories tell it better
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
        # moto's app over HTTP/1.1 with keep-alive (moto's own server closes every connection: http_server.py)
        self._server = MotoHttpServer(opts.host, opts.aws_port)
        self._server.start()
        opts.aws_port = int(self._server.get_host_and_port()[1])  # port 0 asks for any free port
        # moto's backends live in this process: a stack started after another must begin empty.
        reset = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(reset, timeout=30).close()  # noqa: S310 - our own loopback endpoint
        # The emulator's own calls (and, when asked, every call of this process) go straight to the
        # server's WSGI app, no socket; the rest use HTTP.
        every_client = transport.enabled()
        self._patched.append(transport.install(self._server.app, opts.host, opts.aws_port, every_client=every_client))
        self._set_env(
            {
                **FAKE_CREDENTIALS,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "MOTO_PORT": str(opts.aws_port),  # moto's Step Functions calls Lambda back on localhost:$MOTO_PORT
                "AWS_PROFILE": None,
            }
        )
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        # Every patch of moto (moto_patches.py says which and why); Retry's waits go to this stack's clock.
        self._patched.append(moto_patches.install(sleep=self.retry_clock.sleep))
        self.template = SamTemplate(
            opts.template or template_path(),
            parameters={"RecipientDomain": opts.domain, "Stage": "local", **opts.parameters},
            region=REGION,
            account_id=ACCOUNT_ID,
            stack_name=STACK_NAME,
        )
        self.provisioned = provision(self.template, self.internal_client)  # CloudFormation's work: service-internal
        mock_path = mocking.configured_path(opts.mock_config)  # --mock-config, else $SFN_MOCK_CONFIG
        if mock_path is not None:
            self._patched.append(mocking.install(mock_path, aliases=mocking.state_machine_aliases(self.template)))
        self.runtime.log_path = str(opts.lambda_log) if opts.lambda_log else None
        self.runtime.overrides = {
            "POWERTOOLS_LOG_LEVEL": os.environ.get("MAILROOM_LOG_LEVEL", "INFO"),
        }
        for spec in self.provisioned.functions:
            self.runtime.register(spec)
        self.runtime.install()
        self._patched.append(self.runtime.uninstall)
        if opts.enforce_iam:
            self._enforce_iam()
        self.runtime.warm()  # one environment per function imports its handler while the rest starts
        out = self.provisioned.outputs
        self.smtp = SesSmtpListener(
            SesSmtpSettings(
                host=opts.host,
                port=opts.smtp_port,
                domain=out.get("RecipientDomain", opts.domain),
                bucket=out["IncomingBucketName"],
                prefix=out.get("IncomingPrefix", "inbound/"),
                kms_key_id=out["KmsKeyArn"],
                account_id=ACCOUNT_ID,
                region=REGION,
                rule_name=out["ReceiptRuleName"],
                topic_arn=self._rule_topic(out["ReceiptRuleSetName"], out["ReceiptRuleName"]),
                allow_plaintext=opts.allow_plaintext,
            ),
            s3=self.internal_client("s3"),
            kms=self.internal_client("kms"),
            sns=self.internal_client("sns"),
        )
        self.smtp.start()
        self.smtp.write_setup_notification()
        self.control = ControlServer(self.runtime, host=opts.host)
        self.control.start()
        self._patched.append(self.control.stop)
        for source in self.provisioned.event_sources:
            poller = SqsPoller(
                source,
                sqs=self._poller_sqs(source.function),
                lambda_client=self.internal_client("lambda"),
                region=REGION,
            )
            poller.start()
            self.pollers.append(poller)
        if self.provisioned.status_rules:
            self.events = StatusChangeWatcher(
                self.provisioned.status_rules,
                sfn=self.internal_client("stepfunctions"),
                lambda_client=self.internal_client("lambda"),
                region=REGION,
                account=ACCOUNT_ID,
            )
            self.events.start([out["StateMachineArn"]])
            self._patched.append(self.events.stop)
        if opts.state_file is not None:
            write_state(opts.state_file, self.info())

    def _enforce_iam(self) -> None:
        """Each function's calls under its own role from the template (after the runtime took over invoke)."""
        assert self.template is not None
        self.identities = FunctionIdentities.create(
            self.template, self.provisioned.functions, self.internal_client, region=REGION
        )
        self.runtime.credentials = self.identities.credentials
        self._patched.append(self.identities.install())

    def _poller_sqs(self, function: str) -> Any:
        """Lambda's event source mapping polls with the function's execution role (served in process)."""
        if self.identities is None:
            return self.internal_client("sqs")
        return self.identities.client(function, "sqs", internal=True)

    def _rule_topic(self, rule_set: str, rule: str) -> str:
        """The TopicArn of the receipt rule's S3 action, as provisioned from the template ("" if none)."""
        described = self.internal_client("ses").describe_receipt_rule(RuleSetName=rule_set, RuleName=rule)["Rule"]
        for action in described.get("Actions", []):
            if "S3Action" in action:
                return str(action["S3Action"].get("TopicArn", ""))
        return ""

    def stop(self) -> None:
        """Stop pollers, SMTP, the runtime and moto; restore the environment."""
        for poller in self.pollers:
            poller.stop()
        self.pollers.clear()
        if self.smtp is not None:
            with contextlib.suppress(Exception):
                self.smtp.stop()
            self.smtp = None
        while self._patched:
            self._patched.pop()()
        self._clients.clear()
        self._session = None
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.stop()
            self._server = None
        if self.options.state_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self.options.state_file.unlink()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ plumbing

    @property
    def endpoint_url(self) -> str:
        """Where the emulated AWS APIs answer."""
        return f"http://{self.options.host}:{self.options.aws_port}"

    def client(self, service: str) -> Any:
        """The administrator's boto3 client: HTTP unless $MAILROOM_LOCAL_TRANSPORT (one per service; thread-safe)."""
        return self._client(service, internal=False)

    def internal_client(self, service: str) -> Any:
        """The administrator's client for the emulator's own calls (service-internal on AWS): served in process."""
        return self._client(service, internal=True)

    def _client(self, service: str, *, internal: bool) -> Any:
        with self._clients_lock:
            client = self._clients.get((service, internal))
            if client is None:
                client = self._new_client(service)
                self._clients[(service, internal)] = transport.internal(client) if internal else client
            return client

    def _new_client(self, service: str) -> Any:
        # One session for all of them: each new session parses the endpoint rules and service models again.
        if self._session is None:
            self._session = boto3.session.Session()
        return self._session.client(
            service,  # type: ignore[call-overload]
            region_name=REGION,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )

    def _set_env(self, values: dict[str, str | None]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    # ------------------------------------------------------------------ what is where

    def info(self) -> dict[str, Any]:
        """``mailroom local info --json``: the keys of DESIGN §7."""
        out = self.provisioned.outputs
        smtp_host, smtp_port = self.smtp.address if self.smtp else (self.options.host, self.options.smtp_port)
        return {
            "endpoint_url": self.endpoint_url,
            "region": REGION,
            "account_id": ACCOUNT_ID,
            "smtp": f"{smtp_host}:{smtp_port}",
            "smtp_certificate": self.smtp.certificate_path if self.smtp else None,
            "domain": out.get("RecipientDomain", self.options.domain),
            "incoming_bucket": out.get("IncomingBucketName"),
            "incoming_prefix": out.get("IncomingPrefix", "inbound/"),
            "kms_key_arn": out.get("KmsKeyArn"),
            "receipt_rule_name": out.get("ReceiptRuleName"),
            "topic_arn": out.get("IncomingTopicArn"),
            "queue_url": out.get("IncomingQueueUrl"),
            "dlq_url": out.get("DeadLetterQueueUrl"),
            "state_machine_arn": out.get("StateMachineArn"),
            "tables": {
                "mailboxes": out.get("MailboxTableName"),
                "inbox": out.get("InboxTableName"),
                "status": out.get("StatusTableName"),
            },
            "buckets": {
                "incoming": out.get("IncomingBucketName"),
                "staging": out.get("StagingBucketName"),
                "archive": out.get("ArchiveBucketName"),
            },
            "control_url": self.control.url if self.control else None,
            "pid": os.getpid(),
        }

    def observe(self, observer: Callable[[Invocation], None]) -> None:
        """Call ``observer`` after every Lambda invocation."""
        self.runtime.observers.append(observer)


@contextlib.contextmanager
def running(options: LocalOptions | None = None) -> Iterator[LocalStack]:
    """A started stack for the duration of the block."""
    stack = LocalStack(options).start()
    try:
        yield stack
    finally:
        stack.stop()
