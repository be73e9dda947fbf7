"""What the local execution environments share from their fork server: imported code and botocore's models.

Imported once, in the fork server only (``runtime.PRELOADED``), never in the emulator's process.
Every environment is forked from that server, so what is loaded here costs each environment nothing
(the pages are shared until written):

- the handlers' libraries and mailroom's own modules, except the handler modules and
  ``mailroom.observability``: those build the Logger and Metrics from the function's variables
  (``POWERTOOLS_*``) at import, so each environment imports them itself, with its own variables;
- one botocore data loader for every session in the process, already holding the parsed JSON
  of the services the handlers call (their API models, endpoint rule sets, the partitions and
  retry data). A handler's first client per service then skips parsing those files, which was a
  third of the environments' CPU on the e2e bench (the models are read-only to botocore: one
  session already shares its loader between all its clients);
- ``gc.freeze()`` at the end, so the collector in each environment never walks these objects
  (and never writes to their pages).

Local speed only: on Lambda every cold start pays the whole import and the model parsing, which
``bench/bench_coldstart.py`` measures in fresh interpreters. A failure here is swallowed: an
environment without the preload is slower, not different.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import pkgutil
from typing import Any, Final

# The services the handlers build clients for (composition.py); another one is loaded on first use.
SERVICES: Final = ("s3", "kms", "dynamodb", "stepfunctions")
LIBRARIES: Final = (
    "aws_lambda_powertools",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.utilities.typing",
)
# Imported by each environment itself: module-level state built from the function's variables.
PER_FUNCTION: Final = ("mailroom.handlers", "mailroom.observability")


def shared_modules() -> list[str]:
    """Every module of the ``mailroom`` package that does not read the function's variables at import."""
    import mailroom

    names = []
    for info in pkgutil.walk_packages(mailroom.__path__, prefix="mailroom."):
        if not any(info.name == p or info.name.startswith(p + ".") for p in PER_FUNCTION):
            names.append(info.name)
    return names


def _share_one_loader() -> None:
    import boto3
    import botocore.loaders
    import botocore.session

    loader = botocore.loaders.create_loader()
    original = botocore.session.create_loader

    def create_loader(search_path_string: Any = None) -> Any:
        # Only the default search path is shared; a session with its own data path gets its own loader.
        return loader if search_path_string is None else original(search_path_string)

    botocore.session.create_loader = create_loader
    session = boto3.session.Session(aws_access_key_id="preload", aws_secret_access_key="preload")  # noqa: S106
    for service in SERVICES:
        session.client(service, region_name="eu-west-1")  # parses each file a client needs, into the loader


def preload() -> None:
    """Import the shared code, share one warmed botocore loader, freeze what is loaded."""
    for name in (*LIBRARIES, *shared_modules()):
        importlib.import_module(name)
    _share_one_loader()
    gc.collect()
    gc.freeze()


with contextlib.suppress(Exception):  # an environment without the preload is slower, not different
    preload()
