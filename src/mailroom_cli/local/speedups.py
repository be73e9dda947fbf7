"""Where the local stack's CPU went, and the bounded patches of moto that take it back.

Profiled with py-spy on the e2e bench (docs/benchmarks.md, "Issue 14: the local stack's overhead"),
moto spent much of the stack's CPU on work that does not depend on the email:

- ``moto.stepfunctions.parser.asl.utils.boto_client.boto_client_for`` built a **new boto3 client
  for every Task state** (a new botocore session each time, so the Lambda service model's JSON was
  loaded and parsed again: four times per email). Here: one client per (region, service, endpoint),
  shared by every execution (botocore clients are thread-safe).
- ``ExecutionWorker._get_evaluation_entrypoint`` **parsed the ASL definition with ANTLR for every
  execution** (lexer and parser in pure Python, then moto's ``Preprocessor`` building the evaluation
  components: about 50 ms per email on a quiet core). Here the components are built once per
  definition text and shared by its executions. They keep no state of their own while evaluating:
  every counter (retry attempts, say) lives in the execution's ``Environment``, under the
  component's ``heap_key``, which moto assigned lazily, unlocked, on first use; here it is assigned
  under a lock so that two executions starting together agree on it. Definitions with ``Map`` or
  ``Parallel`` states (whose workers moto builds per evaluation) keep fresh components per
  execution, from a cached parse tree.
- ``DomainDispatcherApplication.get_backend_for_host`` matched the request's host against every
  backend's URL patterns (hundreds of regular expressions), under the dispatcher's global lock, for
  **every request**. The answer depends on the host string alone: here it is remembered per host.
- Two lookups redone for every request or state: moto's ``method_names_from_class`` (``inspect.getmembers``
  of the response class, per request) and ``jsonpath_ng``'s ``parse`` of each JSONPath in the ASL (a
  PLY parser, per state and per execution). Both are pure functions of their argument: remembered.
- ``SQSBackend.receive_message`` checked each message's retention through ``get_queue_attributes``,
  which computes *every* attribute of the queue three times, counts of visible, in-flight and
  delayed messages included: a pass over the whole queue per message received, quadratic in the
  backlog (16% of the stack's CPU while 300 queued emails drained). Here: the queue's retention
  period, read directly; the same comparison.

Nothing here changes what an execution does or records, or what a call answers: the same components
evaluate the same definition, Lambda is still invoked through a real boto3 client, every response
still comes from moto. The socket that used to sit between them is transport.py's business.
``install()`` applies the patches in this process and returns the function that undoes them.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from typing import Any

from mailroom_cli.local.mocking import state_types

_PER_EVALUATION_STATES = frozenset({"Map", "Parallel"})
_lock = threading.Lock()
_installed = 0
_restore: list[Callable[[], None]] = []


def install() -> Callable[[], None]:
    """Apply the patches (nested installs are counted); returns the undo function (idempotent)."""
    global _installed
    with _lock:
        if _installed == 0:
            _patch_task_clients()
            _patch_definition_parsing()
            _patch_backend_lookup()
            _patch_per_request_lookups()
            _patch_sqs_retention_check()
        _installed += 1
    done = False

    def uninstall() -> None:
        global _installed
        nonlocal done
        with _lock:
            if done:
                return
            done = True
            _installed -= 1
            if _installed == 0:
                while _restore:
                    _restore.pop()()

    return uninstall


def _patch_task_clients() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.utils import boto_client

    original: Callable[..., Any] = boto_client.boto_client_for
    cache: dict[tuple[str, str, str], Any] = {}
    cache_lock = threading.Lock()

    @functools.wraps(original)
    def cached_client(region: str, service: str, state_credentials: Any = None) -> Any:
        from moto.core.models import botocore_stubber
        from moto.settings import moto_server_port

        # moto builds every such client with the same fixed keys whatever the state's credentials
        # (it ignores them), so one client serves all. The endpoint is part of the key: a stack
        # started later in this process listens on another port.
        key = (region, service, "stubbed" if botocore_stubber.enabled else moto_server_port())
        with cache_lock:
            if key not in cache:
                cache[key] = original(region=region, service=service, state_credentials=state_credentials)
            return cache[key]

    # lambda_eval_utils imported the function by name: replace it there too.
    modules = (boto_client, lambda_eval_utils)
    for module in modules:
        setattr(module, "boto_client_for", cached_client)  # noqa: B010 - moto's module attribute, on purpose

    def restore() -> None:
        for module in modules:
            setattr(module, "boto_client_for", original)  # noqa: B010
        cache.clear()

    _restore.append(restore)


def _patch_definition_parsing() -> None:
    import importlib

    from moto.stepfunctions.parser.asl.parse.asl_parser import ASLParserException
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    # ANTLR's runtime and moto's generated lexer/parser are untyped: reached as Any.
    antlr4: Any = importlib.import_module("antlr4")
    runtime = "moto.stepfunctions.parser.asl.antlr.runtime"
    lexer_class: Any = importlib.import_module(f"{runtime}.ASLLexer").ASLLexer
    parser_class: Any = importlib.import_module(f"{runtime}.ASLParser").ASLParser
    listener_class: Any = importlib.import_module("moto.stepfunctions.parser.asl.parse.asl_parser").SyntaxErrorListener

    original = ExecutionWorker._get_evaluation_entrypoint

    @functools.lru_cache(maxsize=64)
    def parse_tree(definition: str) -> Any:
        # AmazonStateLanguageParser.parse without the preprocessing step (its first half, verbatim).
        errors = listener_class()
        parser = parser_class(antlr4.CommonTokenStream(lexer_class(antlr4.InputStream(definition))))
        parser.removeErrorListeners()
        parser.addErrorListener(errors)
        tree = parser.state_machine()
        if errors.errors:
            raise ASLParserException(errors=errors.errors)
        return tree

    @functools.lru_cache(maxsize=64)
    def shared_program(definition: str) -> Any:
        return Preprocessor().visit(parse_tree(definition))

    def entrypoint(worker: ExecutionWorker) -> Any:
        definition = worker._evaluation_details.state_machine_details.definition
        if _PER_EVALUATION_STATES & set(state_types(json.loads(definition)).values()):
            return Preprocessor().visit(parse_tree(definition))
        return shared_program(definition)

    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.utils import long_uid

    original_heap_key = vars(EvalComponent)["heap_key"]
    key_lock = threading.Lock()
    mangled = "_EvalComponent__heap_key"

    def heap_key(component: Any) -> str:
        key: str | None = vars(component).get(mangled)
        if key is None:
            with key_lock:
                key = vars(component).get(mangled)
                if key is None:
                    key = str(long_uid())
                    setattr(component, mangled, key)
        return key

    setattr(EvalComponent, "heap_key", property(heap_key))  # noqa: B010
    setattr(ExecutionWorker, "_get_evaluation_entrypoint", entrypoint)  # noqa: B010

    def restore() -> None:
        setattr(ExecutionWorker, "_get_evaluation_entrypoint", original)  # noqa: B010
        setattr(EvalComponent, "heap_key", original_heap_key)  # noqa: B010
        parse_tree.cache_clear()
        shared_program.cache_clear()

    _restore.append(restore)


def _patch_backend_lookup() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    known: dict[str | None, Any] = {}

    @functools.wraps(original)
    def get_backend_for_host(dispatcher: DomainDispatcherApplication, host: str | None) -> Any:
        # Called under the dispatcher's own lock; the patterns are fixed at import, so the answer is too.
        if host not in known:
            known[host] = original(dispatcher, host)
        return known[host]

    setattr(DomainDispatcherApplication, "get_backend_for_host", get_backend_for_host)  # noqa: B010

    def restore() -> None:
        setattr(DomainDispatcherApplication, "get_backend_for_host", original)  # noqa: B010
        known.clear()

    _restore.append(restore)


def _patch_per_request_lookups() -> None:
    from moto.core import responses
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    # (module, attribute): moto imported each by name, so each is replaced where it is looked up.
    targets = [(responses, "method_names_from_class"), (json_path, "parse"), (result_path, "parse")]
    originals = [(module, name, getattr(module, name)) for module, name in targets]
    for module, name, function in originals:
        setattr(module, name, _remembered(function))

    def restore() -> None:
        for module, name, function in originals:
            setattr(module, name, function)

    _restore.append(restore)


def _remembered(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``function`` of one hashable argument, computed once per argument (results are not mutated by callers)."""
    known: dict[Any, Any] = {}

    @functools.wraps(function)
    def lookup(argument: Any) -> Any:
        try:
            return known[argument]
        except KeyError:
            result = known[argument] = function(argument)
            return result

    return lookup


def _patch_sqs_retention_check() -> None:
    from moto.core.utils import unix_time  # the clock moto.sqs.models uses
    from moto.sqs import models

    original = models.SQSBackend.is_message_valid_based_on_retention_period

    @functools.wraps(original)
    def is_message_valid_based_on_retention_period(backend: Any, queue_name: str, message: Any) -> bool:
        retention_period = int(backend.get_queue(queue_name).message_retention_period)
        return bool(retention_period + message.sent_timestamp / 1000 > unix_time())

    setattr(models.SQSBackend, "is_message_valid_based_on_retention_period", is_message_valid_based_on_retention_period)  # noqa: B010

    def restore() -> None:
        setattr(models.SQSBackend, "is_message_valid_based_on_retention_period", original)  # noqa: B010

    _restore.append(restore)
