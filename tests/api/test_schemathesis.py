"""Schemathesis against the app's own OpenAPI document: requests generated from every
operation's schema (valid ones and broken ones, in its examples, coverage and fuzzing
phases), as an admin (logged in, and with an API key) and with no credentials. Every
check of schemathesis runs: no server error; every status, content type, header and
response body as documented; `Allow` on 405; authentication not ignored; and the schema
saying what the app accepts (a request the schema calls valid is not refused, one it calls
invalid is). The last allows a 400, on a few operations, for rules a schema cannot state
(`SEMANTIC_RULES`). Bounded and deterministic: a fixed seed, a few examples per operation."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import schemathesis
from fastapi import FastAPI
from jsonschema import Draft202012Validator
from pydantic import SecretStr
from requests.structures import CaseInsensitiveDict
from schemathesis.core.mutations import OperatorKind
from schemathesis.engine import Status, events
from schemathesis.generation.meta import CoveragePhaseData, CoverageScenario
from schemathesis.python import asgi
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import negative_data_rejection

from mmstack.api.app import create_app
from mmstack.auth.audit import Actor, AuditQuery
from mmstack.auth.roles import Permission, Role
from mmstack.config.settings import (
    AuthSettings,
    EmbeddedLlmSettings,
    IngestSettings,
    LlmSettings,
    QuotaSettings,
    Settings,
    UpstreamSettings,
)
from mmstack.errors import MMStackError
from mmstack.stack import Stack
from tests.conftest import PG_DSN
from tests.llm.fake_upstream import API_KEY, FakeUpstream

# Fixed so a run is repeatable; another seed and more examples look further
# (`SCHEMATHESIS_SEED=7 SCHEMATHESIS_MAX_EXAMPLES=40`), as a check on data not fixed against.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10"))
# Rules the app applies that JSON Schema cannot state, where a request the schema calls
# valid may still be a 400: (method, path) and the rule.
SEMANTIC_RULES = {
    ("GET", "/api/collections/{collection}/files/{file_id}/pages/{page}"): "a PDF's pages only",
    ("POST", "/api/conversations/{conversation_id}/messages"): "a conversation with collections",
    ("POST", "/api/agents"): "tools a Responses request could give (a known type, its fields)",
    (
        "PUT",
        "/api/agents/{agent}",
    ): "tools a Responses request could give (a known type, its fields)",
    ("POST", "/api/auth/mfa/totp/confirm"): "the code must be the authenticator's current one",
    ("POST", "/api/auth/mfa/totp/disable"): "the code must be the authenticator's current one",
    ("POST", "/api/auth/password"): "a password strong enough (zxcvbn), not the username",
    ("POST", "/api/users"): "a password strong enough (zxcvbn), not the username",
    ("POST", "/api/users/{user}/password"): "a password strong enough (zxcvbn)",
    ("POST", "/v1/chat/completions"): "the messages in an order a conversation can have",
    ("POST", "/v1/embeddings"): "within the model's vocabulary, token limit and dimension",
}
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20261127"))
PASSWORD = "Correct-Horse-Battery-42"
# The admin the runs act as: a name no generator will come up with (schemathesis also tries
# the string constants of the code, "admin" among them).
FUZZ_ADMIN = "fuzz-admin-5c1d9e"
# Ends the login the run uses (and is tried without one).
NOT_LOGGED_IN = ("/api/auth/logout",)

AnyCase = schemathesis.Case[Any]


def _settings(data_dir: Path, upstream_url: str) -> Settings:
    fake = UpstreamSettings(
        name="fake", base_url=upstream_url, api_key=API_KEY, models=["echo"], max_retries=0
    )
    return Settings(
        data_dir=data_dir,
        ingest=IngestSettings(workers=1, retry_base_seconds=0.01, max_file_bytes=64 * 1024),
        llm=LlmSettings(
            default_model="echo", embedded=EmbeddedLlmSettings(enabled=False), upstreams=[fake]
        ),
        quotas=QuotaSettings(requests_per_minute=0),
        auth=AuthSettings(initial_admin_password=SecretStr(PASSWORD)),
    )


def _asgi(app: FastAPI) -> Any:
    """The app as schemathesis' ASGI client takes it: its type names the same callable
    with dict where Starlette's says MutableMapping."""
    return app


def _started(settings: Settings) -> FastAPI:
    application = create_app(settings)
    with asgi.get_client(_asgi(application)):  # starts the lifespan: the stack opens
        pass
    return application


@pytest.fixture(scope="module")
def sqlite_app(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream
) -> Iterator[FastAPI]:
    """The app, started by schemathesis's ASGI transport (which keeps its lifespan open
    until told otherwise) and stopped at the end of the module."""
    try:
        yield _started(_settings(tmp_path_factory.mktemp("fuzz"), fake_upstream.base_url))
    finally:
        asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def postgres_app(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream
) -> Iterator[FastAPI]:
    """The same on PostgreSQL (text without NUL characters, 32-bit integer columns), in a
    schema of its own."""
    schema = f"mmstack_t_{secrets.token_hex(6)}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    base = PG_DSN.replace("postgresql://", "postgresql+psycopg://", 1)
    settings = _settings(tmp_path_factory.mktemp("fuzz-pg"), fake_upstream.base_url)
    url = f"{base}?options=-csearch_path%3D{schema}"
    try:
        yield _started(settings.model_copy(update={"database_url": url}))
    finally:
        asgi.shutdown_lifespans()
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


class Credentials:
    """The fuzz admin's login or API key, made to work again before each request: the run
    may disable the admin, change its role or password, or revoke its key (that is the API
    working, not failing) and would then test nothing but 401s."""

    def __init__(self, stack: Stack, kind: str, name: str = "") -> None:
        self.stack = stack
        self.kind = kind
        self.username = f"{FUZZ_ADMIN}-{name or kind}"
        self.actor = Actor.local()
        accounts = stack.auth.accounts
        accounts.create_user(self.username, role=Role.ADMIN, actor=self.actor, password=PASSWORD)
        self.header = self._new()
        self.restored = 0

    def _new(self) -> str:
        auth = self.stack.auth
        if self.kind == "key":
            _, key = auth.keys.create(self.username, name="fuzz", actor=self.actor)
            return f"Bearer {key}"
        pair = auth.logins.login(self.username, PASSWORD, address=None)
        return f"Bearer {pair.access_token}"

    def current(self) -> str:
        try:
            # An admin's key can do all but administration (and keys).
            needed = Permission.ADMIN if self.kind == "token" else Permission.WRITE
            if self.stack.auth.authenticate(self.header).can(needed):
                return self.header
        except MMStackError:
            pass
        accounts = self.stack.auth.accounts
        self.restored += 1
        accounts.set_disabled(self.username, False, actor=self.actor)
        accounts.set_role(self.username, Role.ADMIN, actor=self.actor)
        if self.kind == "token":
            accounts.set_password(self.username, PASSWORD, actor=self.actor)
        self.header = self._new()
        return self.header


# What a value sent as text in a form can still break: a negated schema with only other
# keywords (`type`, `anyOf`, ...) may have changed nothing but the value's JSON type.
TEXT_KEYWORDS = {"pattern", "maxLength", "minLength", "enum", "const", "format"}
COUNT_KEYWORDS = {"maxItems", "minItems", "uniqueItems", "required"}


def _type_changed_in_a_form(case: AnyCase) -> bool:
    """Whether the case's only flaw is a value of another type in a multipart form, which
    the wire turns back into text: `{}` for a tag is the tag "{}", and a list of lists
    is one tag holding its JSON."""
    if case.meta is None or not (case.media_type or "").startswith("multipart/"):
        return False
    data = case.meta.phase.data
    if isinstance(data, CoveragePhaseData):
        return data.scenario == CoverageScenario.INCORRECT_TYPE
    mutations = getattr(data, "mutations", ())
    return bool(mutations) and all(
        m.operator == OperatorKind.CHANGE_TYPE
        or (
            m.operator == OperatorKind.NEGATE_CONSTRAINTS
            and not set(m.keywords) & (TEXT_KEYWORDS | COUNT_KEYWORDS)
        )
        for m in mutations
    )


@schemathesis.check
def negative_data_rejected(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: AnyCase
) -> bool | None:
    """Schemathesis's `negative_data_rejection`, but for `_type_changed_in_a_form`."""
    if _type_changed_in_a_form(case):
        return None
    return negative_data_rejection(ctx, response, case)


def _on_postgres(app: FastAPI) -> bool:
    stack: Stack = app.state.stack
    return (stack.settings.database_url or "").startswith("postgresql")


# Schemathesis's own default: what a valid request may get.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def _run(
    app: FastAPI, credentials: Credentials | None, *, coverage: bool = True
) -> tuple[list[str], dict[int, int]]:
    """Schemathesis's engine with every check: what failed, as readable lines, and how
    many responses of each status there were."""
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                # PostgreSQL's text cannot hold NUL: such text is a 400 there (as
                # `test_values_the_database_cannot_take_are_refused` shows), not valid data.
                "allow-x00": not _on_postgres(app),
            },
            "phases": {"stateful": {"enabled": False}, "coverage": {"enabled": coverage}},
            # Replaced by `negative_data_rejected`.
            "checks": {"negative_data_rejection": {"enabled": False}},
            "operations": [
                {
                    "include-method": method,
                    "include-path": path,
                    "checks": {
                        "positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}
                    },
                }
                for method, path in SEMANTIC_RULES
            ],
        }
    )
    schema: BaseSchema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    if credentials is not None:
        schema = schema.exclude(path=list(NOT_LOGGED_IN))
        signed_in = credentials

        class Provider:
            def get(self, case: AnyCase, ctx: schemathesis.AuthContext) -> str:
                return signed_in.current()

            def set(self, case: AnyCase, data: str, ctx: Any) -> None:
                headers = CaseInsensitiveDict(case.headers or {})
                headers["Authorization"] = data
                case.headers = headers

        schema.auth(refresh_interval=None)(Provider)
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.NonFatalError):  # the app raised (a 500 on a server)
            failures.append(f"{event.label}: {event.value!r}")
        if isinstance(event, events.FatalError):
            failures.append(f"schemathesis stopped: {event.exception!r}")
        if not isinstance(event, events.ScenarioFinished):
            continue
        recorder = event.recorder
        for interaction in recorder.interactions.values():
            if interaction.response is not None:
                code = interaction.response.status_code
                statuses[code] = statuses.get(code, 0) + 1
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.status == Status.SUCCESS:
                    continue
                node = recorder.cases.get(case_id)
                if (
                    check.name == "positive_data_acceptance"
                    and node is not None
                    and not _body_matches_schema(app, node.value)
                ):
                    continue
                failures.append(_describe(recorder, case_id, check))
    return failures, statuses


def _body_matches_schema(app: FastAPI, case: AnyCase) -> bool:
    """Whether a JSON body is valid for its operation's schema, by jsonschema. Schemathesis's
    generator can break a negated character class (a label's pattern) and still call the
    value positive; such a request is not one the schema accepts."""
    if case.media_type != "application/json" or not isinstance(case.body, dict | list):
        return True
    document = app.openapi()
    operation = document["paths"][case.operation.path][case.method.lower()]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": document["components"]})
    return bool(validator.is_valid(case.body))


def _describe(recorder: Any, case_id: str, check: Any) -> str:
    line = f"{recorder.label}: {check.name}: {check.failure_info}"
    interaction = recorder.interactions.get(case_id)
    if interaction is None:
        return line
    request, response = interaction.request, interaction.response
    line += f"\n  {request.method} {request.uri} {(request.body or b'')[:300]!r}"
    if response is not None:
        line += f"\n  -> {response.status_code} {(response.content or b'')[:300]!r}"
    return line


@pytest.mark.parametrize(
    ("db", "kind"),
    [
        ("sqlite", "token"),
        ("sqlite", "key"),
        pytest.param("postgres", "token", marks=pytest.mark.postgres),
    ],
)
def test_no_server_error_as_an_admin(request: pytest.FixtureRequest, db: str, kind: str) -> None:
    app: FastAPI = request.getfixturevalue(f"{db}_app")
    credentials = Credentials(app.state.stack, kind)
    # The coverage phase's requests (each operation's schema, broken every which way) are
    # the same with a key: the token's run makes them.
    failures, statuses = _run(app, credentials, coverage=kind == "token")
    print(kind, statuses, "restored", credentials.restored)
    assert not failures, "\n".join(failures)
    # The requests got in: most answers are the app's, not the authentication's.
    assert statuses.get(200, 0) + statuses.get(201, 0) > 100, statuses
    assert statuses.get(401, 0) < sum(statuses.values()) / 4, statuses


def test_no_server_error_without_credentials(sqlite_app: FastAPI) -> None:
    failures, statuses = _run(sqlite_app, None)
    print("none", statuses)
    assert not failures, "\n".join(failures)
    assert statuses.get(401, 0) > sum(statuses.values()) / 2, statuses


BIG = 10**20  # past every integer column
NOT_STORABLE = [
    ("GET", f"/api/jobs/{BIG}", None),
    ("GET", f"/api/jobs/-{BIG}", None),
    ("GET", f"/api/audit?after={BIG}", None),
    ("GET", f"/api/audit/export?after={BIG}", None),
    ("GET", "/api/audit/export?action=%00", None),
    ("GET", "/api/audit?actor_id=%00", None),
    ("POST", "/api/search", {"query": "x", "filters": {"created_after": BIG}}),
    ("POST", "/api/search", {"query": "x", "collections": ["\x00"]}),
    ("POST", "/api/collections", {"name": "nul\x00"}),
    ("GET", "/api/collections/%00", None),
    ("DELETE", "/api/keys/%00", None),
    ("GET", "/v1/files?after=%00", None),
    ("POST", "/v1/vector_stores", {"name": "x", "metadata": {"k": "v\x00"}}),
    ("POST", "/api/auth/login", {"username": "\x00", "password": "x"}),
]


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_values_the_database_cannot_take_are_refused(
    request: pytest.FixtureRequest, db: str
) -> None:
    """What schemathesis found: NUL characters (which PostgreSQL's text cannot hold) and
    numbers past the integer columns' range are invalid requests, not server errors; and
    a DELETE is audited whatever its path."""
    app: FastAPI = request.getfixturevalue(f"{db}_app")
    stack: Stack = app.state.stack
    headers = {"Authorization": Credentials(stack, "token", "probe").current()}
    with asgi.get_client(_asgi(app)) as client:
        for method, url, body in NOT_STORABLE:
            response = client.request(method, url, json=body, headers=headers)
            # SQLite stores NUL characters: only the numbers are errors on both.
            refused = str(BIG) in url + str(body)
            status = response.status_code
            assert 400 <= status < 500 if refused else status < 500, f"{url}: {response.text}"
            if status >= 400:
                assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    targets = [
        e.target for e in stack.auth.audit.query(AuditQuery(action="http.delete", limit=1000))
    ]
    assert "/api/keys/%00" in targets
