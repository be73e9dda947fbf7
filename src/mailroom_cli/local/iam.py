"""Each function calls AWS under its own role, built from template.yaml and enforced on moto.

On AWS a function's calls are signed with its execution role's session, and IAM refuses what the
role's identity policy does not allow. Locally, for every function of the template:

- a role is created in moto's IAM with the function's ``Policies`` from ``template.yaml`` (inline
  statements, and SAM policy templates expanded as SAM's ``policy_templates.json`` defines them);
- moto's STS ``AssumeRole`` issues a session for it; the function's execution environments get
  that session's keys as Lambda sets them (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
  ``AWS_SESSION_TOKEN``), so every client the handler builds signs with it, and so does the
  Starter's SQS event source mapping, as Lambda's poller uses the execution role;
- every request signed by such a session is evaluated here against the role's policies as moto's IAM
  holds them, before moto serves it: explicit Deny wins, else an Allow must match the action, the
  resource (the table, key, queue, state machine, execution, function, bucket or object the request
  names) and the statement's conditions. A refusal is the service's own ``AccessDenied`` (403), which
  the adapters turn into ``DependencyAccessDeniedError`` as on AWS.
- S3 as AWS answers it: GetObject/HeadObject (and CopyObject's source) of a missing key is 403
  ``AccessDenied`` for a caller without ``s3:ListBucket`` on the bucket, 404 ``NoSuchKey`` with it.

moto's own evaluator is not used for the decision: it evaluates most requests against resource
``*`` and treats unknown conditions as met (``moto/iam/access_control.py``, "TODO add support for the
Resource and Condition parts"). Requests signed with any other credential (the stack's own
provisioning, the operator CLI, the tests, the state machine's interpreter) are the local
administrator and pass, as moto's default does. What is not evaluated is listed in
``docs/local-fidelity.md``: key policies and bucket/queue/topic policies (resource policies), and
KMS use by S3, DynamoDB and SQS on a function's behalf (moto's services call no KMS through IAM, so
``kms:ViaService`` statements are never exercised; a direct KMS call has no ``kms:ViaService``).
"""

from __future__ import annotations

import base64
import fnmatch
import functools
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote

import boto3
from botocore.config import Config

from mailroom_cli.local import moto_patches, transport
from mailroom_cli.local.runtime import FunctionSpec
from mailroom_cli.local.template import SamTemplate, TemplateError

log = logging.getLogger(__name__)

STATE_MACHINE_TYPE: Final = "AWS::Serverless::StateMachine"


def _trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


POLICY_NAME: Final = "template-policies"

# SAM's policy templates used by template.yaml, as samtranslator/policy_templates_data/policy_templates.json
# defines them (parameter name, statements with ``${value}`` for the parameter). An unknown template is
# refused at start rather than guessed.
SAM_POLICY_TEMPLATES: Final[dict[str, tuple[str, list[dict[str, Any]]]]] = {
    "StepFunctionsExecutionPolicy": (
        "StateMachineName",
        [
            {
                "Effect": "Allow",
                "Action": ["states:StartExecution"],
                "Resource": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${value}",
            }
        ],
    ),
    "LambdaInvokePolicy": (
        "FunctionName",
        [
            {
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${value}*",
            }
        ],
    ),
}
# Managed policies SAM attaches or a template may name, whose actions no local call needs (CloudWatch
# Logs, X-Ray): nothing to grant locally.
IRRELEVANT_MANAGED_POLICIES: Final = frozenset(
    {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess", "AWSXRayDaemonWriteAccess"}
)
# The condition keys this module can evaluate (a statement using another is refused at start).
_EVALUATED_KEYS: Final = re.compile(r"^(kms:ViaService|kms:EncryptionContext:.+|s3:prefix|aws:SecureTransport)$")
_OPERATORS: Final = frozenset(
    {"StringEquals", "StringNotEquals", "StringLike", "StringNotLike", "ArnEquals", "ArnLike", "ArnNotLike", "Bool"}
)


# ---------------------------------------------------------------------------------------------- the roles


def function_policy(template: SamTemplate, logical_id: str) -> dict[str, Any]:
    """The identity policy SAM would give ``logical_id``'s role (a function or state machine), resolved."""
    resource = template.resources[logical_id]
    if "Role" in resource.get("Properties", {}):
        raise TemplateError(f"{logical_id}: an explicit Role is not built locally; give the function Policies")
    policies = resource.get("Properties", {}).get("Policies", [])
    if isinstance(policies, (str, dict)):
        policies = [policies]
    statements: list[dict[str, Any]] = []
    for policy in policies:
        statements.extend(_expand(template, logical_id, policy))
    for statement in statements:
        _check_conditions(logical_id, statement)
    return {"Version": "2012-10-17", "Statement": statements}


def _expand(template: SamTemplate, logical_id: str, policy: Any) -> list[dict[str, Any]]:
    if isinstance(policy, str):
        name = policy.rsplit("/", 1)[-1]
        if name in IRRELEVANT_MANAGED_POLICIES:
            return []
        raise TemplateError(f"{logical_id}: managed policy {policy} cannot be evaluated locally")
    if not isinstance(policy, dict):
        raise TemplateError(f"{logical_id}: unexpected policy {policy!r}")
    if "Statement" in policy:
        resolved = template.resolve(policy["Statement"])
        return [resolved] if isinstance(resolved, dict) else list(resolved)
    if len(policy) == 1:
        ((name, arguments),) = policy.items()
        if name in SAM_POLICY_TEMPLATES:
            parameter, statements = SAM_POLICY_TEMPLATES[name]
            value = str(template.resolve((arguments or {})[parameter]))
            text = json.dumps(statements).replace("${value}", value)
            for pseudo, replacement in template.pseudo.items():
                text = text.replace(f"${{{pseudo}}}", replacement)
            expanded: list[dict[str, Any]] = json.loads(text)
            return expanded
    raise TemplateError(f"{logical_id}: policy {next(iter(policy), '?')} is not a SAM template local mode knows")


def _check_conditions(logical_id: str, statement: Mapping[str, Any]) -> None:
    for operator, block in (statement.get("Condition") or {}).items():
        if operator.removesuffix("IfExists") not in _OPERATORS and operator != "Null":
            raise TemplateError(f"{logical_id}: condition operator {operator} cannot be evaluated locally")
        for key in block:
            if not _EVALUATED_KEYS.match(key):
                raise TemplateError(f"{logical_id}: condition key {key} cannot be evaluated locally")


# ---------------------------------------------------------------------------------------------- evaluation


def is_allowed(
    policies: list[Mapping[str, Any]], action: str, resource: str, context: Mapping[str, str] | None = None
) -> bool:
    """IAM's identity-policy evaluation: an explicit Deny wins; otherwise some Allow must match."""
    allowed = False
    for policy in policies:
        statements = policy.get("Statement", [])
        for statement in [statements] if isinstance(statements, dict) else statements:
            if not _applies(statement, action, resource, context or {}):
                continue
            if statement.get("Effect") == "Deny":
                return False
            allowed = True
    return allowed


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _wildcard(pattern: str, value: str, *, case: bool = True) -> bool:
    return _compiled(pattern, case).fullmatch(value) is not None


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str, case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, flags=0 if case else re.IGNORECASE)


def _applies(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]) -> bool:
    if "Action" in statement:
        if not any(_wildcard(p, action, case=False) for p in _listed(statement["Action"])):
            return False
    elif any(_wildcard(p, action, case=False) for p in _listed(statement.get("NotAction", []))):
        return False
    if "Resource" in statement:
        if not any(_wildcard(p, resource) for p in _listed(statement["Resource"])):
            return False
    elif any(_wildcard(p, resource) for p in _listed(statement.get("NotResource", []))):
        return False
    return all(
        _condition(operator, key, _listed(expected), context)
        for operator, block in (statement.get("Condition") or {}).items()
        for key, expected in block.items()
    )


def _condition(operator: str, key: str, expected: list[str], context: Mapping[str, str]) -> bool:
    """One condition key under one operator; a key absent from the request fails all but negated operators."""
    if operator == "Null":
        return (key not in context) == (expected[0].lower() == "true")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    negated = "Not" in operator
    if key not in context:
        return if_exists or negated
    actual = context[key]
    if operator in ("StringEquals", "StringNotEquals", "ArnEquals"):
        matched = actual in expected
    elif operator == "Bool":
        matched = actual.lower() in [e.lower() for e in expected]
    else:  # StringLike, StringNotLike, ArnLike, ArnNotLike
        matched = any(fnmatch.fnmatchcase(actual, e) for e in expected)
    return not matched if negated else matched


# ---------------------------------------------------------------------------------------------- identities


@dataclass
class Session:
    """A function's (or the state machine's) role session: moto STS credentials."""

    function: str  # the function's or state machine's name
    role_name: str
    role_arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str


@dataclass
class FunctionIdentities:
    """Each function's role and session; its clients; the authorization hook on moto."""

    region: str
    account_id: str
    sessions: dict[str, Session] = field(default_factory=dict)  # function name → session
    denials: list[str] = field(default_factory=list)  # "function: action on resource", each request refused
    state_machine: Session | None = None  # the template's state machine's role (its task calls)
    _by_key: dict[str, Session] = field(default_factory=dict)
    _clients: dict[tuple[str, str, bool], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _boto_session: boto3.session.Session | None = None

    @classmethod
    def create(
        cls, template: SamTemplate, functions: list[FunctionSpec], client: Callable[[str], Any], *, region: str
    ) -> FunctionIdentities:
        """A role per function from the template's policies, and a session of it (after provisioning)."""
        identities = cls(region=region, account_id=template.pseudo["AWS::AccountId"])
        for spec in functions:
            identities._assume(template, client, spec.logical_id, spec.name, "lambda.amazonaws.com")
        machines = template.of_type(STATE_MACHINE_TYPE)
        if len(machines) == 1:  # the interpreter's calls do not say which machine they run for
            (machine,) = machines
            name = template.physical[machine].attributes.get("Name", machine)
            identities.state_machine = identities._assume(template, client, machine, name, "states.amazonaws.com")
        return identities

    def _assume(
        self, template: SamTemplate, client: Callable[[str], Any], logical_id: str, name: str, service: str
    ) -> Session:
        iam, sts = client("iam"), client("sts")
        policy = function_policy(template, logical_id)
        role_name = f"{name}-role"[:64]
        role_arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=_trust(service))["Role"]["Arn"]
        iam.put_role_policy(RoleName=role_name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(policy))
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=name[:64])["Credentials"]
        session = Session(
            function=name,
            role_name=role_name,
            role_arn=role_arn,
            access_key_id=credentials["AccessKeyId"],
            secret_access_key=credentials["SecretAccessKey"],
            session_token=credentials["SessionToken"],
        )
        self.sessions[name] = session
        self._by_key[session.access_key_id] = session
        return session

    def client(self, function: str, service: str, config: Config | None = None, *, internal: bool = False) -> Any:
        """A boto3 client signing as ``function``'s role (one per function and service; clients are thread-safe).

        ``internal``: for the emulator's calls made with that role (Lambda's poller), served in process
        (transport.py); the function's own code gets the other one, over HTTP.
        """
        with self._lock:
            cached = self._clients.get((function, service, internal))
            if cached is None:
                session = self.sessions[function]
                # One boto3 session, the role's credentials per client: a session per function and
                # service parsed the endpoint rules and the service model again each time.
                if self._boto_session is None:
                    self._boto_session = boto3.session.Session()
                cached = self._boto_session.client(  # type: ignore[call-overload]
                    service,
                    region_name=self.region,
                    aws_access_key_id=session.access_key_id,
                    aws_secret_access_key=session.secret_access_key,
                    aws_session_token=session.session_token,
                    config=config,
                )
                if internal:
                    transport.internal(cached)
                self._clients[(function, service, internal)] = cached
        return cached

    def credentials(self, spec: FunctionSpec) -> dict[str, str]:
        """The variables that give an environment of ``spec`` its role's session (as Lambda sets them)."""
        session = self.sessions.get(spec.name)
        if session is None:
            return {}
        return {
            "AWS_ACCESS_KEY_ID": session.access_key_id,
            "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
            "AWS_SESSION_TOKEN": session.session_token,
        }

    def install(self) -> Callable[[], None]:
        """Authorize requests on moto; returns what undoes it."""
        return moto_patches.install(authorize=self._authorize_request, task_client=self._interpreter_client())

    # ------------------------------------------------------------------ the state machine's task calls

    def _interpreter_client(self) -> Callable[[str, str], Any] | None:
        """The client factory for moto's interpreter: its task calls sign as the state machine's role."""
        machine = self.state_machine
        if machine is None:
            return None
        from moto.settings import moto_server_port
        from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

        config = Config(
            parameter_validation=False,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            max_pool_connections=50,  # shared by every running execution's task calls
        )
        clients: dict[tuple[str, str], Any] = {}
        lock = threading.Lock()

        def task_client(region: str, service: str) -> Any:
            # One client per region and service (moto makes one per task call; a fresh session per call
            # would reload botocore's models each time: three times the stack's CPU per email).
            with lock:
                client = clients.get((region, service))
                if client is None:
                    with self._lock:
                        if self._boto_session is None:
                            self._boto_session = boto3.session.Session()
                        client = self._boto_session.client(  # type: ignore[call-overload]
                            service,
                            region_name=region or self.region,
                            endpoint_url=f"http://localhost:{moto_server_port()}",
                            aws_access_key_id=machine.access_key_id,
                            aws_secret_access_key=machine.secret_access_key,
                            aws_session_token=machine.session_token,
                            config=config,
                        )
                    clients[(region, service)] = transport.internal(client)  # Step Functions' own calls
            return client

        return task_client

    # ------------------------------------------------------------------ the authorization hook

    def _authorize_request(self, response: Any, resource: str) -> bool:
        """moto's authorization hook: decide a request signed by a role session (False: not ours, moto decides)."""
        session = self._session_of(response.headers)
        if session is None:
            return False  # the administrator: moto's own behaviour
        self.authorize(session, response, resource)
        return True

    def _session_of(self, headers: Mapping[str, str]) -> Session | None:
        authorization = headers.get("Authorization") or ""
        access_key = authorization.partition("Credential=")[2].partition("/")[0]
        session = self._by_key.get(access_key)
        if session is None:
            return None
        if headers.get("X-Amz-Security-Token") != session.session_token:
            from moto.core.exceptions import InvalidClientTokenIdError

            raise InvalidClientTokenIdError()
        return session

    def authorize(self, session: Session, response: Any, resource: str) -> None:
        """Raise the service's AccessDenied unless ``session``'s role may make this request."""
        service = _signing_service(response.headers)
        action = f"{service}:{response._get_action()}"
        action = _IAM_ACTIONS.get(action, action)
        policies = self._policies(session)
        if service == "s3":
            self._authorize_s3(session, response, policies, action, resource)
            return
        resources = [resource] if resource != "*" else _resources(self, service, response)
        context = _context(service, response)
        for name in resources:
            if not is_allowed(policies, action, name, context):
                self._denied(session, action, name)
                principal = f"arn:aws:sts::{self.account_id}:assumed-role/{session.role_name}/{session.function}"
                raise _access_denied(service, principal, f"{action} on resource: {name}")

    def _authorize_s3(
        self, session: Session, response: Any, policies: list[Mapping[str, Any]], action: str, resource: str
    ) -> None:
        from moto.s3.exceptions import S3AccessDeniedError

        bucket, _, key = resource.removeprefix("arn:aws:s3:::").partition("/")
        context = {"aws:SecureTransport": "false"}
        if not key:
            prefix = response.querystring.get("prefix")
            if prefix:
                context["s3:prefix"] = prefix[0]
        if not is_allowed(policies, action, resource, context):
            self._denied(session, action, resource)
            raise S3AccessDeniedError()
        copy_source = response.headers.get("x-amz-copy-source")
        if copy_source and action == "s3:PutObject":
            source_bucket, _, source_key = unquote(copy_source).lstrip("/").partition("/")
            source_key = source_key.partition("?versionId=")[0]
            source = f"arn:aws:s3:::{source_bucket}/{source_key}"
            if not is_allowed(policies, "s3:GetObject", source, context):
                self._denied(session, "s3:GetObject", source)
                raise S3AccessDeniedError()
            self._missing_key_is_403_without_list(session, policies, response, source_bucket, source_key)
        elif key and action == "s3:GetObject":
            self._missing_key_is_403_without_list(session, policies, response, bucket, unquote(key))

    def _denied(self, session: Session, action: str, resource: str) -> None:
        entry = f"{session.function}: {action} on {resource}"
        log.warning("local IAM denied %s (not granted by template.yaml)", entry)
        with self._lock:
            self.denials.append(entry)

    def _missing_key_is_403_without_list(
        self, session: Session, policies: list[Mapping[str, Any]], response: Any, bucket: str, key: str
    ) -> None:
        """S3 GetObject permissions: without s3:ListBucket, a missing key is 403, not 404."""
        from moto.s3.exceptions import S3AccessDeniedError
        from moto.s3.models import s3_backends

        backend = s3_backends[response.current_account]["aws"]
        try:
            found = backend.get_object(bucket, key) is not None
        except Exception:  # noqa: BLE001 - no such bucket: moto answers for it itself
            return
        if not found and not is_allowed(policies, "s3:ListBucket", f"arn:aws:s3:::{bucket}"):
            self._denied(session, "s3:GetObject (missing key, no s3:ListBucket)", f"arn:aws:s3:::{bucket}/{key}")
            raise S3AccessDeniedError()

    def _policies(self, session: Session) -> list[Mapping[str, Any]]:
        """The role's policies as moto's IAM holds them now (inline and attached)."""
        from moto.iam.models import iam_backends

        role = iam_backends[self.account_id]["aws"].get_role(session.role_name)
        documents: list[Mapping[str, Any]] = [json.loads(_text(d)) for d in role.policies.values()]
        for managed in role.managed_policies.values():
            version = next(v for v in managed.versions if v.is_default)
            documents.append(json.loads(_text(version.document)))
        return documents


# API operations authorized by another IAM action (SQS: "Amazon SQS batch actions", Permissions; Lambda: Invoke).
_IAM_ACTIONS: Final = {
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "lambda:Invoke": "lambda:InvokeFunction",
}
# How each service refuses a caller IAM denies (error code, HTTP status), as its API reference documents it.
_DENIALS: Final = {
    "dynamodb": ("AccessDeniedException", 400),
    "kms": ("AccessDeniedException", 400),
    "states": ("AccessDeniedException", 400),
    "lambda": ("AccessDeniedException", 403),
    "sqs": ("AccessDenied", 403),
}


def _access_denied(service: str, principal: str, what: str) -> Exception:
    from moto.core.exceptions import AccessDeniedError, JsonRESTError

    if service not in _DENIALS:
        return AccessDeniedError(user_arn=principal, action=what)
    code, status = _DENIALS[service]
    error = JsonRESTError(code, f"User: {principal} is not authorized to perform: {what}")
    error.code = status
    return error


def _text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def _signing_service(headers: Mapping[str, str]) -> str:
    scope = (headers.get("Authorization") or "").partition("Credential=")[2].partition(",")[0].split("/")
    return scope[3] if len(scope) > 3 else ""


def _body(response: Any) -> dict[str, Any]:
    raw = getattr(response, "raw_body", None) or response.body  # DynamoDB replaces ``body`` with parsed params
    if isinstance(raw, dict):
        return raw
    try:
        parsed = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _resources(identities: FunctionIdentities, service: str, response: Any) -> list[str]:
    """The ARNs a request acts on, for services where moto evaluates ``*``."""
    region, account = response.region, response.current_account
    body = _body(response)
    if service == "dynamodb":
        tables = [body["TableName"]] if "TableName" in body else []
        tables += list(body.get("RequestItems", {}))
        for item in body.get("TransactItems", []):
            tables += [op["TableName"] for op in item.values() if isinstance(op, dict) and "TableName" in op]
        index = f"/index/{body['IndexName']}" if body.get("IndexName") else ""
        return [f"arn:aws:dynamodb:{region}:{account}:table/{t}{index}" for t in tables] or ["*"]
    if service == "kms":
        return [_kms_key_arn(response, body)]
    if service == "states":
        return [str(body.get("executionArn") or body.get("stateMachineArn") or "*")]
    if service == "lambda":
        name = unquote(response.path).split("/functions/", 1)[-1].split("/", 1)[0]
        if name.startswith("arn:"):
            return [name]
        return [f"arn:aws:lambda:{region}:{account}:function:{name}"] if name else ["*"]
    if service == "sns":
        return [str(response.querystring.get("TopicArn", ["*"])[0])]
    return ["*"]


def _kms_key_arn(response: Any, body: Mapping[str, Any]) -> str:
    from moto.kms.models import kms_backends

    key_id = body.get("KeyId")
    if not key_id and body.get("CiphertextBlob"):
        from moto.kms.utils import _deserialize_ciphertext_blob

        try:
            key_id = _deserialize_ciphertext_blob(base64.b64decode(body["CiphertextBlob"])).key_id
        except Exception:  # noqa: BLE001 - not a blob of this KMS: moto refuses it itself
            return "*"
    if not key_id:
        return "*"
    try:
        return str(kms_backends[response.current_account][response.region].describe_key(str(key_id)).arn)
    except Exception:  # noqa: BLE001 - no such key: moto answers NotFoundException itself
        return "*"


def _context(service: str, response: Any) -> dict[str, str]:
    """Request context keys the policies may test (a direct call has no ``kms:ViaService``)."""
    context = {"aws:SecureTransport": "false"}
    if service == "kms":
        for key, value in (_body(response).get("EncryptionContext") or {}).items():
            context[f"kms:EncryptionContext:{key}"] = str(value)
    return context
