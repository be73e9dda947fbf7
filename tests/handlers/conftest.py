"""Each handler test gets a fresh in-process moto account (no sockets) and the functions' environment."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator
from types import ModuleType

import botocore.loaders
import botocore.session
import pytest
from mailroom import composition  # imports no Powertools
from moto import mock_aws
from moto_stack import ENVIRONMENT, Clients, Configure, FakeLambdaContext, Stack, make_clients

from mailroom_cli.local import moto_patches

POWERTOOLS_VARIABLES = ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE")


def _cold_import(*names: str) -> list[ModuleType]:
    """Import as a cold start does, with Powertools' variables set: the module-level Logger and Metrics
    (mailroom.observability) read them once, at import, for the whole process (so for later suites too)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in POWERTOOLS_VARIABLES:
            patch.setenv(name, ENVIRONMENT[name])
        return [importlib.import_module(name) for name in names]


HANDLER_MODULES = [f"mailroom.handlers.{name}" for name in ("start", "decrypt", "parse", "archive", "inbox")]
observability, *HANDLERS = _cold_import("mailroom.observability", *HANDLER_MODULES)


def _forget_settings() -> None:
    # Settings are read once per cold start (composition root): every change to the environment needs a new one.
    composition.reset()


@pytest.fixture(scope="session", autouse=True)
def parse_service_models_once() -> Iterator[None]:
    """Share one botocore loader between sessions: the composition root builds a session per client, and
    re-reading the service models for every new client would dominate the suite's run time.

    (Session scope: pytest gives a directory without ``__init__.py`` no narrower scope than this. The
    loader only caches the read-only service models, so later suites see no difference but speed.)"""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", functools.cache(botocore.loaders.create_loader))
        yield


@pytest.fixture(scope="module", autouse=True)
def handler_clients() -> Iterator[None]:
    """The handlers' clients (composition root) live for one test module: the environment the tests change
    is the functions' settings, which no client depends on; ``configure`` resets them all the same. The
    resets also drop clients another suite left (e.g. on a local endpoint) and keep ours from leaking."""
    composition.reset()
    yield
    composition.reset()


@pytest.fixture(scope="module", autouse=True)
def moto_as_strict_as_the_local_stack() -> Iterator[None]:
    """moto with the local stack's patches (``mailroom_cli.local.moto_patches``): where moto is laxer than
    AWS in what the handlers rely on (CopyObject's ``If-None-Match``), the handler tests see AWS's answer.
    Per module: other suites expect moto as it is between their own installs."""
    undo = moto_patches.install()
    yield
    undo()


@pytest.fixture(scope="session")
def clients(parse_service_models_once: None) -> Clients:
    """The tests' own clients, built once (moto intercepts clients made before a mock starts)."""
    return make_clients()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, clients: Clients) -> Iterator[Stack]:
    """The mocked account with every resource the handlers use, and their environment set."""
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    # In case another suite imported the handlers first, without the variable.
    monkeypatch.setattr(observability.metrics, "namespace", ENVIRONMENT["POWERTOOLS_METRICS_NAMESPACE"])
    with mock_aws():
        created = Stack.create(clients)
        monkeypatch.setenv("STATE_MACHINE_ARN", created.state_machine_arn)
        _forget_settings()
        yield created
    _forget_settings()


@pytest.fixture
def configure(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Configure:
    """Change the functions' environment (``NAME=None`` removes it) as a new deployment would."""

    def apply(**env: str | None) -> None:
        for name, value in env.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        _forget_settings()
        composition.reset()

    return apply


@pytest.fixture
def context() -> FakeLambdaContext:
    """A Lambda context as Powertools reads it."""
    return FakeLambdaContext()
