"""Every patch of moto's internals, in one module, each applied once per process.

moto is laxer than AWS in places, lacks an API or two, and spends CPU on work that does not depend
on the request. The local stack corrects that by replacing a few of moto's functions and methods in
its own process (where the moto server runs). They are all here, applied together by ``install()``
(counted: nested installs apply nothing twice; the last ``uninstall`` gives moto back its own code).
What differs per stack (the Lambda runtime, the retry clock, the functions' roles, a mock file) is
not patched again: it is registered as a *hook* that the one patch consults, and unregistered by
the same undo function. Without a hook, each patch answers as moto does (plus its fix).

AWS behaviour made strict, or supplied where moto lacks it:

1. ``DynamoHandler.put_item`` / ``update_item`` / ``delete_item`` / ``transact_write_items`` /
   ``batch_write_item``: **serialised**. DynamoDB applies a conditional write atomically (condition,
   ``ALL_OLD`` and write as one); moto's threaded server reads the old item, checks, then writes,
   unlocked, so two concurrent UpdateItems on one new key both saw no ``ALL_OLD`` (two Starters both
   "created" one status record).
2. ``StepFunctionsParserBackend.start_execution``: **one lock**, so execution names stay unique as on
   AWS (moto checks the name, then creates: two concurrent starts of one name made two); and a
   ``<stateMachineArn>#<case>`` start runs that case of the Step Functions Local mock file when
   ``mocking.install`` registered one (hook ``mock_case``). Patched once, for both reasons.
3. ``Execution._get_start_execution_worker``: hands that mock case to the interpreter's worker, and
   again to a worker a redrive starts for the same execution.
4. ``StateTaskServiceDynamoDB._from_error``: while a mock file is installed, a mocked ``Throw`` at a
   DynamoDB task reports the file's ``Error`` (moto turned it into ``DynamoDB.AmazonDynamoDBException``).
5. ``Execution.to_history_output``, ``StepFunctionResponse.describe_execution`` and
   ``StepFunctionResponse.redrive_execution``: **RedriveExecution**, which moto lacks (it answered
   500): the history continues across runs, DescribeExecution shows ``redriveCount``/``redriveDate``
   (the emulation itself is ``redrive.py``).
6. ``ActionAuthenticatorMixin._authenticate_and_authorize_action``: a request signed by a function's
   role session is **authorized against that role's policies from template.yaml** (hook
   ``authorize``, ``iam.py``); moto's own evaluator checks resource ``*`` and ignores conditions.
7. ``boto_client_for`` as moto's interpreter imported it (``lambda_eval_utils``,
   ``state_task_service_dynamodb``): the state machine's task calls **sign as its role** when
   ``iam.py`` registered one (hook ``task_client``); else one client per (region, service, endpoint)
   with moto's own fixed keys (see 10). Either way a service-internal call: marked for the
   in-process transport (``transport.internal``).
8. ``LambdaFunction.invoke``: **our handlers, in execution environments of their own** (processes),
   under their template timeout and error shape (hook ``invoke``, ``runtime.py``); moto would start Docker.
9. ``retrier_decl.time`` (the module moto's Retry sleeps through): **the stack's retry clock**
   (hook ``sleep``), which records every wait the ASL asks for and compresses it for tests.
18. ``S3Response.copy_object``: **CopyObject honours ``If-None-Match: *``** on the destination key,
    answering 412 ``PreconditionFailed`` and writing nothing when the key exists, as S3 does (S3 User
    Guide, "How to prevent object overwrites with conditional writes"); moto checks it on PutObject
    only and overwrote. Archive's writes rely on it.
21. ``Queue.pending_message_groups``: concurrent ReceiveMessage calls on one queue (the event source
    mapping's five pollers) **no longer fail with a 500**. moto's receive deep-copies the groups of
    the in-flight messages, built by iterating the live set that another receive (or a delete) is
    changing: "Set changed size during iteration" (seen once in three 100-email bench runs; the
    messages that receive had taken came back only after their visibility timeout). Here the set is
    copied first, in one C call (atomic under the GIL), and the copy is iterated.

Costs removed (profiled on the e2e bench, docs/benchmarks.md):

10. ``boto_client_for`` (also in ``boto_client`` itself): moto built a **new boto3 client for every
    Task state**, a new botocore session each time, loading the service model's JSON again (four per
    email). One client per key, shared (botocore clients are thread-safe).
11. ``ExecutionWorker._get_evaluation_entrypoint`` and ``EvalComponent.heap_key``: moto **parsed the
    ASL with ANTLR (pure Python) and preprocessed it for every execution** (about 50 ms per email).
    The components are built once per definition text; they keep no state while evaluating (every
    counter lives in the execution's ``Environment`` under the component's ``heap_key``, which moto
    assigned lazily and unlocked: here under a lock, so executions starting together agree on it).
    Definitions with ``Map``/``Parallel`` (whose workers moto builds per evaluation) get fresh
    components per execution from a cached parse tree.
12. ``DomainDispatcherApplication.get_backend_for_host``: a regular expression per backend per
    request, under the dispatcher's global lock; the answer depends on the host alone: remembered.
13. ``method_names_from_class`` (``inspect.getmembers`` per request), ``jsonpath_ng``'s ``parse``
    as ``json_path`` and ``result_path`` import it (a PLY parse per state per execution): pure
    functions of their argument, remembered.
14. ``SQSBackend.is_message_valid_based_on_retention_period``: computed *every* queue attribute,
    message counts included, per message received (quadratic in the backlog); here the retention
    period is read directly, for the same comparison.
15. ``UpdateExpressionParser.make``: each UpdateItem parsed its update expression twice (once in
    the response class, once in the backend) with moto's pure-Python tokenizer and parser; here the
    tree is remembered per expression text. Nothing mutates it: the only users read it
    (``find_clauses``) or hand it to a ``Validator``, which works on a copy.
16. ``deepcopy`` as ``moto.dynamodb.parsing.validators`` imported it: every ``Validator`` (two
    for an UpdateItem that creates its item) deep-copied the parse tree through ``copy.deepcopy``'s
    generic ``__reduce_ex__`` path, node by node in Python (about 8% of the stack's CPU). A tree
    remembered by 15 is pickled once and each copy is ``pickle.loads`` of that, in C: the same
    objects as deepcopy's (plain nodes, no ``__deepcopy__``; parents point into the copy); any other
    value still goes to ``copy.deepcopy``.
17. ``DepthFirstTraverser.nodes_to_be_processed`` ("Cached accessor", but not cached): every
    validator rebuilt its processing map (a dict of bound methods) for every node of the tree, ten
    validators per Validator; about 7% of the stack's CPU. The node classes it returns are the
    literal keys of each traverser class's map: remembered per class.
19. ``parse_to_aware_datetime`` as ``moto.core.serialize`` imported it (botocore's): every timestamp
    moto keeps as an ISO 8601 string (S3's ``LastModified`` in each CopyObject answer, among others)
    went through ``dateutil``'s general parser, about 2 ms each (4% of the emulator's CPU on the
    e2e bench). Here a string that ``datetime.fromisoformat`` reads is read by it and handed on as a
    ``datetime`` (the same value: botocore normalises it the same way); anything else still goes
    to botocore's parser (epoch seconds as text, other formats).
20. ``DynamoHandler.serialized`` for the item operations (GetItem, PutItem, UpdateItem, DeleteItem,
    BatchGetItem, BatchWriteItem, Query, Scan, TransactGetItems, TransactWriteItems): moto's
    generic serializer walked the output shape and tried every alias of every member of every
    ``AttributeValue`` (ten members each, most absent), about 2 ms for a ten-attribute item,
    6.5% of the emulator's CPU. These results are already DynamoDB's wire JSON (moto builds them
    as such), so they are written with ``json.dumps``, binary values base64-encoded and absent
    (``None``) members left out, as the serializer does. A result holding anything else (a
    datetime, a model object), a key the output shape does not name, or an error goes to moto's
    serializer as before. ``test_moto_patches`` compares both on every attribute type.

Not moto, so not here: botocore's ``Endpoint._send`` (``transport.py``, the in-process transport
of the emulator's own calls).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import importlib
import json
import pickle
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Final

from mailroom_cli.local import transport

HOOKS: Final = ("invoke", "sleep", "authorize", "task_client", "mock_case")
_PER_EVALUATION_STATES: Final = frozenset({"Map", "Parallel"})
# moto's interpreter modules whose task calls (Lambda invoke, DynamoDB integration) sign as the state machine's role.
_SIGNED_TASK_MODULES: Final = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
)

_lock = threading.RLock()
_installed = 0
_restore: list[Callable[[], None]] = []
_hooks: dict[str, list[tuple[object, Callable[..., Any]]]] = {name: [] for name in HOOKS}
_pending = threading.local()  # the mock case of the start_execution running on this (request) thread


def install(**hooks: Callable[..., Any] | None) -> Callable[[], None]:
    """Apply every patch (once per process) and register ``hooks``; returns the undo function (idempotent).

    Hooks (the latest registered answers until it is undone): ``invoke(function_name, body,
    response_headers) -> bytes``; ``sleep(seconds)``; ``authorize(response, resource) -> bool`` (True:
    decided, False: moto's own check); ``task_client(region, service) -> client``;
    ``mock_case(machine, case) -> MockTestCase``.
    """
    global _installed
    unknown = set(hooks) - set(HOOKS)
    if unknown:
        raise TypeError(f"unknown moto hook(s): {sorted(unknown)}; known: {list(HOOKS)}")
    token = object()
    with _lock:
        if _installed == 0:
            _apply()
        _installed += 1
        for name, function in hooks.items():
            if function is not None:
                _hooks[name].append((token, function))
    done = False

    def uninstall() -> None:
        global _installed
        nonlocal done
        with _lock:
            if done:
                return
            done = True
            for stack in _hooks.values():
                stack[:] = [entry for entry in stack if entry[0] is not token]
            _installed -= 1
            if _installed == 0:
                while _restore:
                    _restore.pop()()

    return uninstall


def installed() -> bool:
    """True while at least one ``install`` is in force."""
    return _installed > 0


def hook(name: str) -> Callable[..., Any] | None:
    """The hook answering for ``name`` now (the latest registered), if any."""
    stack = _hooks[name]
    return stack[-1][1] if stack else None


def _apply() -> None:
    for patch in (
        _atomic_dynamodb_writes,
        _start_execution,
        _mock_workers_and_errors,
        _redrive,
        _authorization,
        _task_clients,
        _lambda_invoke,
        _retry_clock,
        _definition_parsing,
        _backend_lookup,
        _per_request_lookups,
        _sqs_retention_check,
        _update_expressions,
        _traverser_node_types,
        _conditional_copy,
        _serialized_timestamps,
        _dynamodb_item_results,
        _sqs_pending_groups,
    ):
        patch()


def _replace(owner: Any, name: str, replacement: Any) -> None:
    """Set ``owner.name`` (a class or module attribute of moto's) and remember how to put it back."""
    missing = object()
    original = vars(owner).get(name, missing)
    setattr(owner, name, replacement)

    def restore() -> None:
        if original is missing:
            delattr(owner, name)
        else:
            setattr(owner, name, original)

    _restore.append(restore)


# ---------------------------------------------------------------------------------------------- 1. DynamoDB


def _atomic_dynamodb_writes() -> None:
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()

    def atomic(original: Any) -> Any:
        @functools.wraps(original)
        def write(handler: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(handler, *args, **kwargs)

        return write

    for name in ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"):
        _replace(DynamoHandler, name, atomic(getattr(DynamoHandler, name)))


# ---------------------------------------------------------------------------------------------- 2-4. executions


def _start_execution() -> None:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original: Any = StepFunctionsParserBackend.start_execution
    lock = threading.Lock()

    def start_execution(
        backend: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: Any = None,
    ) -> Any:
        with lock:
            base_arn, hashed, case = state_machine_arn.partition("#")
            mock_case = hook("mock_case")
            if not hashed or mock_case is None:
                return original(backend, state_machine_arn, name, execution_input, trace_header)
            _pending.case = mock_case(backend.describe_state_machine(base_arn), case)
            try:
                # moto would name an unnamed execution "None"; Step Functions gives it a UUID
                return original(backend, base_arn, name or str(uuid.uuid4()), execution_input, trace_header)
            finally:
                _pending.case = None

    _replace(StepFunctionsParserBackend, "start_execution", start_execution)


def _mock_workers_and_errors() -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb import (
        StateTaskServiceDynamoDB,
    )
    from moto.stepfunctions.parser.backend.execution import Execution

    original_worker: Any = Execution._get_start_execution_worker
    original_error: Any = StateTaskServiceDynamoDB._from_error

    def start_execution_worker(execution: Any) -> Any:
        worker = original_worker(execution)
        case = getattr(_pending, "case", None)
        if case is not None:
            execution.mock_test_case = case  # kept: a worker started again for this execution mocks alike
        case = getattr(execution, "mock_test_case", None)
        if case is not None:
            setattr(worker, "_mock_test_case", case)  # noqa: B010 - read when the worker's thread starts
        return worker

    def from_error(task: Any, env: Any, ex: Exception) -> Any:
        if hook("mock_case") is not None and isinstance(ex, FailureEventException):
            return ex.failure_event  # a mocked Throw: its Error, as every other task reports it
        return original_error(task, env, ex)

    _replace(Execution, "_get_start_execution_worker", start_execution_worker)
    _replace(StateTaskServiceDynamoDB, "_from_error", from_error)


# ---------------------------------------------------------------------------------------------- 5. redrive


def _redrive() -> None:
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.responses import StepFunctionResponse

    from mailroom_cli.local import redrive

    _replace(Execution, "to_history_output", redrive.history_with_earlier_runs(Execution.to_history_output))
    _replace(
        StepFunctionResponse,
        "describe_execution",
        redrive.describe_with_redrive(StepFunctionResponse.describe_execution),
    )
    _replace(StepFunctionResponse, "redrive_execution", redrive.redrive_response)


# ---------------------------------------------------------------------------------------------- 6. IAM


def _authorization() -> None:
    from moto.core.authorization import ActionAuthenticatorMixin

    original: Any = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def authorize(response: Any, iam_request_cls: type, resource: str = "*") -> None:
        decide = hook("authorize")
        if decide is None or not decide(response, resource):
            original(response, iam_request_cls, resource)  # the administrator: moto's own behaviour

    _replace(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", authorize)


# ---------------------------------------------------------------------------------------------- 7, 10. task clients


def _task_clients() -> None:
    from moto.stepfunctions.parser.asl.utils import boto_client

    original: Callable[..., Any] = boto_client.boto_client_for
    cache: dict[tuple[str, str, object], Any] = {}
    cache_lock = threading.Lock()

    def shared(region: str, service: str, state_credentials: Any = None) -> Any:
        from moto.core.models import botocore_stubber
        from moto.settings import moto_server_port

        # moto builds every such client with the same fixed keys whatever the state's credentials (it
        # ignores them), so one serves all. The endpoint is part of the key: a later stack listens elsewhere.
        key = (region, service, "stubbed" if botocore_stubber.enabled else moto_server_port())
        with cache_lock:
            if key not in cache:
                client = original(region=region, service=service, state_credentials=state_credentials)
                cache[key] = transport.internal(client)  # Step Functions' own calls: served in process
            return cache[key]

    def signed(region: str, service: str, state_credentials: Any = None) -> Any:
        task_client = hook("task_client")
        if task_client is None:
            return shared(region, service, state_credentials)
        return task_client(region, service)

    _replace(boto_client, "boto_client_for", functools.wraps(original)(shared))
    for name in _SIGNED_TASK_MODULES:
        _replace(importlib.import_module(name), "boto_client_for", functools.wraps(original)(signed))
    _restore.append(cache.clear)


# ---------------------------------------------------------------------------------------------- 8. Lambda


def _lambda_invoke() -> None:
    from moto.awslambda.models import LambdaFunction

    original: Any = LambdaFunction.invoke

    @functools.wraps(original)
    def invoke(fn: Any, body: str, request_headers: Any, response_headers: Any) -> Any:
        run = hook("invoke")
        if run is None:
            return original(fn, body, request_headers, response_headers)
        return run(fn.function_name, body, response_headers)

    _replace(LambdaFunction, "invoke", invoke)


# ---------------------------------------------------------------------------------------------- 9. retry waits


class _RetrierTime:
    """Stands in for ``time`` in moto's retrier: ``sleep`` goes to the registered clock."""

    def sleep(self, seconds: float) -> None:
        """The registered ``sleep`` hook, else ``time.sleep``."""
        sleep = hook("sleep")
        (sleep or time.sleep)(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _retry_clock() -> None:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    _replace(retrier_decl, "time", _RetrierTime())


# ---------------------------------------------------------------------------------------------- 11. ASL parsing


def _definition_parsing() -> None:
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.parse.asl_parser import ASLParserException
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.parser.utils import long_uid

    from mailroom_cli.local.mocking import state_types

    # ANTLR's runtime and moto's generated lexer/parser are untyped: reached as Any.
    antlr4: Any = importlib.import_module("antlr4")
    runtime = "moto.stepfunctions.parser.asl.antlr.runtime"
    lexer_class: Any = importlib.import_module(f"{runtime}.ASLLexer").ASLLexer
    parser_class: Any = importlib.import_module(f"{runtime}.ASLParser").ASLParser
    listener_class: Any = importlib.import_module("moto.stepfunctions.parser.asl.parse.asl_parser").SyntaxErrorListener

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

    def entrypoint(worker: Any) -> Any:
        definition = worker._evaluation_details.state_machine_details.definition
        if _PER_EVALUATION_STATES & set(state_types(json.loads(definition)).values()):
            return Preprocessor().visit(parse_tree(definition))
        return shared_program(definition)

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

    _replace(EvalComponent, "heap_key", property(heap_key))
    _replace(ExecutionWorker, "_get_evaluation_entrypoint", entrypoint)
    _restore.append(parse_tree.cache_clear)
    _restore.append(shared_program.cache_clear)


# ---------------------------------------------------------------------------------------------- 12-13. lookups


def _backend_lookup() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    known: dict[str | None, Any] = {}

    @functools.wraps(original)
    def get_backend_for_host(dispatcher: DomainDispatcherApplication, host: str | None) -> Any:
        # Called under the dispatcher's own lock; the patterns are fixed at import, so the answer is too.
        if host not in known:
            known[host] = original(dispatcher, host)
        return known[host]

    _replace(DomainDispatcherApplication, "get_backend_for_host", get_backend_for_host)
    _restore.append(known.clear)


def _per_request_lookups() -> None:
    from moto.core import responses
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    # (module, attribute): moto imported each by name, so each is replaced where it is looked up.
    for module, name in ((responses, "method_names_from_class"), (json_path, "parse"), (result_path, "parse")):
        _replace(module, name, _remembered(getattr(module, name)))


def _remembered(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``function`` of one hashable argument, computed once per argument (callers do not mutate results)."""
    known: dict[Any, Any] = {}

    @functools.wraps(function)
    def lookup(argument: Any) -> Any:
        try:
            return known[argument]
        except KeyError:
            result = known[argument] = function(argument)
            return result

    return lookup


# ---------------------------------------------------------------------------------------------- 14. SQS


def _sqs_retention_check() -> None:
    from moto.core.utils import unix_time  # the clock moto.sqs.models uses
    from moto.sqs import models

    original = models.SQSBackend.is_message_valid_based_on_retention_period

    @functools.wraps(original)
    def is_message_valid_based_on_retention_period(backend: Any, queue_name: str, message: Any) -> bool:
        retention_period = int(backend.get_queue(queue_name).message_retention_period)
        return bool(retention_period + message.sent_timestamp / 1000 > unix_time())

    name = "is_message_valid_based_on_retention_period"
    _replace(models.SQSBackend, name, is_message_valid_based_on_retention_period)


# ---------------------------------------------------------------------------------------------- 15-16. DynamoDB


def _update_expressions() -> None:
    # moto's expression modules are untyped (``# type: ignore`` at their top): reached as Any.
    validators: Any = importlib.import_module("moto.dynamodb.parsing.validators")
    parser_class: Any = importlib.import_module("moto.dynamodb.parsing.expressions").UpdateExpressionParser

    parse: Any = parser_class.make
    pickled: dict[int, tuple[Any, bytes]] = {}  # id(tree) -> (tree, its pickle), for the remembered trees

    def parse_once(expression: str) -> Any:
        tree = parse(expression)
        pickled[id(tree)] = (tree, pickle.dumps(tree, pickle.HIGHEST_PROTOCOL))
        return tree

    parsed = _remembered(parse_once)

    def make(cls: Any, expression_str: str) -> Any:
        return parsed(expression_str) if cls is parser_class else parse.__func__(cls, expression_str)

    fallback: Callable[..., Any] = validators.deepcopy

    def copy_tree(value: Any, memo: dict[int, Any] | None = None) -> Any:
        entry = pickled.get(id(value)) if memo is None else None
        if entry is not None and entry[0] is value:
            return pickle.loads(entry[1])  # noqa: S301 - our own pickle of moto's parse tree, in memory
        return fallback(value, memo)

    _replace(parser_class, "make", classmethod(make))
    _replace(validators, "deepcopy", copy_tree)
    _restore.append(pickled.clear)


def _traverser_node_types() -> None:
    traverser: Any = importlib.import_module("moto.dynamodb.parsing.ast_nodes").DepthFirstTraverser
    per_class: dict[type, tuple[type, ...]] = {}

    def nodes_to_be_processed(self: Any) -> tuple[type, ...]:
        cls = type(self)
        types = per_class.get(cls)
        if types is None:
            types = per_class[cls] = tuple(self._processing_map())
        return types

    _replace(traverser, "nodes_to_be_processed", nodes_to_be_processed)
    _restore.append(per_class.clear)


# ---------------------------------------------------------------------------------------------- 18. S3 conditional copy


def _conditional_copy() -> None:
    from moto.s3.exceptions import PreconditionFailed
    from moto.s3.responses import S3Response

    original: Any = S3Response.copy_object

    @functools.wraps(original)
    def copy_object(response: Any) -> Any:
        conditional = response.headers.get("If-None-Match") == "*"
        if conditional and response.backend.get_object(response.bucket_name, response.parse_key_name()) is not None:
            raise PreconditionFailed("If-None-Match")
        return original(response)

    _replace(S3Response, "copy_object", copy_object)


# ---------------------------------------------------------------------------------------------- 19. timestamps


def _serialized_timestamps() -> None:
    serialize: Any = importlib.import_module("moto.core.serialize")  # botocore's function, imported there by name
    original: Callable[[Any], Any] = serialize.parse_to_aware_datetime

    @functools.wraps(original)
    def parse_to_aware_datetime(value: Any) -> Any:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # not ISO 8601 as Python reads it: botocore's parser decides
                value = datetime.datetime.fromisoformat(value)
        return original(value)

    _replace(serialize, "parse_to_aware_datetime", parse_to_aware_datetime)


# ---------------------------------------------------------------------------------------------- 20. DynamoDB results

DYNAMODB_ITEM_OPERATIONS: Final = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchGetItem",
        "BatchWriteItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "TransactWriteItems",
    }
)


class _NotWireJson(Exception):
    """A value that only moto's serializer knows how to write."""


def _wire_json(value: Any) -> Any:
    """``value`` as DynamoDB's JSON protocol writes it: bytes in base64, ``None`` members left out."""
    if isinstance(value, dict):
        return {k: _wire_json(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_wire_json(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise _NotWireJson(type(value).__name__)


def _dynamodb_item_results() -> None:
    from moto.core.responses import ActionResult
    from moto.core.utils import get_service_model
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    original: Any = DynamoHandler.serialized
    members: dict[str, frozenset[str]] = {}  # operation -> its output shape's member names

    def output_members(operation: str) -> frozenset[str]:
        if operation not in members:
            shape = get_service_model("dynamodb").operation_model(operation).output_shape
            members[operation] = frozenset(shape.members) if shape is not None else frozenset()
        return members[operation]

    @functools.wraps(original)
    def serialized(handler: Any, action_result: Any) -> Any:
        operation = handler._get_action()
        result = action_result.result
        if (
            operation in DYNAMODB_ITEM_OPERATIONS
            and type(action_result) in (ActionResult, DynamoResult)
            and isinstance(result, dict)
            and set(result) <= output_members(operation)
        ):
            try:
                body = json.dumps(_wire_json(result))
            except _NotWireJson:
                return original(handler, action_result)
            headers = {"Content-Type": "application/x-amz-json-1.0", **handler.response_headers}
            return 200, headers, body
        return original(handler, action_result)

    _replace(DynamoHandler, "serialized", serialized)
    _restore.append(members.clear)


# ---------------------------------------------------------------------------------------------- 21. SQS receives


def _sqs_pending_groups() -> None:
    from moto.sqs.models import Queue

    def pending_message_groups(queue: Any) -> set[str]:
        in_flight = set.copy(queue._pending_messages)  # one C call: no other thread changes it meanwhile
        return {message.group_id for message in in_flight if message.group_id is not None}

    _replace(Queue, "pending_message_groups", property(pending_message_groups))
