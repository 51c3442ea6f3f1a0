"""What the console stands on, through the HTTP API: its page and assets (packaged, with
their own content policy, under a prefix too), the server's info, conversations kept per
user and shared read-only with the team, renaming a collection, a file's length and
preview, a PDF's page with the quoted lines, a generated password due for a change, and an
admin's reset of two-factor authentication."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from mmstack.api.app import create_app
from mmstack.api.routes.console import ASSETS_DIR
from mmstack.auth.audit import Actor, AuditQuery
from mmstack.auth.roles import Role
from mmstack.config.settings import (
    EmbeddedLlmSettings,
    IngestSettings,
    LlmSettings,
    Settings,
    UpstreamSettings,
)
from mmstack.stack import Stack
from tests.api.live_server import admin_key, client_stack
from tests.documents import make_pdf
from tests.llm.fake_upstream import API_KEY, FakeUpstream

PASSWORD = "Correct-Horse-Battery-42"


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    upstream.start()
    yield upstream
    upstream.stop()


@pytest.fixture
def client(settings: Settings, fake_llm: FakeUpstream) -> Iterator[TestClient]:
    live = settings.model_copy(
        update={
            "ingest": IngestSettings(workers=1, retry_base_seconds=0.01),
            "llm": LlmSettings(
                default_model="echo",
                embedded=EmbeddedLlmSettings(enabled=False),
                upstreams=[
                    UpstreamSettings(
                        name="fake",
                        base_url=fake_llm.base_url,
                        api_key=API_KEY,
                        models=["echo"],
                        max_retries=0,
                    )
                ],
            ),
        }
    )
    with TestClient(create_app(live)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {admin_key(client_stack(test_client))}"
        yield test_client


def _login(
    client: TestClient, username: str, role: Role, team: str | None = None
) -> dict[str, str]:
    stack = client_stack(client)
    options: dict[str, Any] = {"team": team} if team else {}
    stack.auth.accounts.create_user(
        username, role=role, actor=Actor.local(), password=PASSWORD, **options
    )
    token = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _wait_completed(client: TestClient, collection: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        files: list[dict[str, Any]] = client.get(f"/api/collections/{collection}/files").json()[
            "data"
        ]
        if files and all(f["status"] in ("completed", "failed") for f in files):
            return files
        time.sleep(0.05)
    raise AssertionError(f"ingestion did not finish: {files}")


def test_the_console_page_and_its_assets_are_served_with_their_own_policy(
    client: TestClient,
) -> None:
    page = client.get("/", headers={"Authorization": ""})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    # Every URL in the page is relative: it works under any path prefix.
    assert 'src="console/app.js"' in page.text
    assert 'href="/' not in page.text
    assert client.head("/").status_code == 200
    # Every module is preloaded, so none waits for the one importing it.
    for module in ASSETS_DIR.rglob("*.js"):
        name = module.relative_to(ASSETS_DIR).as_posix()
        assert f'<link rel="modulepreload" href="console/{name}">' in page.text

    script = client.get("/console/app.js", headers={"Authorization": ""})
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["cache-control"] == "no-cache"
    again = client.get("/console/app.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    # The API keeps its own, stricter policy.
    assert (
        client.get("/healthz").headers["content-security-policy"].startswith("default-src 'none'")
    )
    assert client.get("/console/../pyproject.toml").status_code == 404


def test_the_vendored_library_is_the_published_file() -> None:
    manifest = json.loads((ASSETS_DIR / "vendor" / "VENDORED.json").read_text())
    for name, entry in manifest.items():
        digest = hashlib.sha256((ASSETS_DIR / "vendor" / name).read_bytes()).hexdigest()
        assert digest == entry["sha256"], name


def test_every_module_the_console_imports_is_shipped() -> None:
    """The page's modules import one another by relative path; each must exist."""
    modules = list(ASSETS_DIR.rglob("*.js"))
    for module in modules:
        for line in module.read_text().splitlines():
            if line.startswith("import ") and " from " in line:
                target = line.rsplit(" from ", 1)[1].strip().strip(";").strip('"')
                assert (module.parent / target).resolve().is_file(), f"{module.name}: {target}"


def test_server_info_names_the_chat_models_and_limits(client: TestClient) -> None:
    info = client.get("/api/info").json()
    assert info["chat_models"] == ["echo"]
    assert info["answer_model"] == "echo"
    assert info["max_file_bytes"] > 0
    assert client.get("/api/info", headers={"Authorization": ""}).status_code == 401


def test_a_collection_is_renamed_and_described(client: TestClient) -> None:
    made = client.post("/api/collections", json={"name": "drafts"}).json()
    renamed = client.patch(
        f"/api/collections/{made['id']}", json={"name": "final", "description": "Signed off"}
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["description"]) == ("final", "Signed off")
    assert client.get("/api/collections/final").json()["id"] == made["id"]
    client.post("/api/collections", json={"name": "other"})
    taken = client.patch(f"/api/collections/{made['id']}", json={"name": "other"})
    assert taken.status_code == 409
    assert client.get(f"/api/collections/{made['id']}").json()["name"] == "final"


def test_a_pdf_page_comes_with_the_boxes_of_the_quote(client: TestClient) -> None:
    client.post("/api/collections", json={"name": "reports"})
    pdf = make_pdf(["First page about revenue.", "Second page: forty engineers were hired."])
    client.post(
        "/api/collections/reports/files",
        files=[("files", ("report.pdf", pdf)), ("files", ("notes.txt", b"Plain notes."))],
    )
    files = {f["filename"]: f for f in _wait_completed(client, "reports")}
    report = files["report.pdf"]
    assert report["page_count"] == 2
    assert report["thumbnail_url"]
    base = f"/api/collections/reports/files/{report['id']}/pages"

    page = client.get(f"{base}/2", params={"quote": "forty engineers were hired."})
    assert page.status_code == 200, page.text
    body = page.json()
    assert (body["page"], body["page_count"]) == (2, 2)
    png = base64.b64decode(body["image"].removeprefix("data:image/png;base64,"))
    assert png.startswith(b"\x89PNG")
    assert max(body["width"], body["height"]) == 1400
    (box,) = body["boxes"]
    left, top, right, bottom = box
    assert 0 <= left < right <= 1
    assert 0 <= top < bottom < 0.25

    assert client.get(f"{base}/1", params={"quote": "not on this page"}).json()["boxes"] == []
    missing = client.get(f"{base}/3")
    assert missing.status_code == 404
    assert "has no page 3" in missing.json()["error"]["message"]
    notes = client.get(f"/api/collections/reports/files/{files['notes.txt']['id']}/pages/1")
    assert notes.status_code == 400
    assert "not a PDF" in notes.json()["error"]["message"]
    outsider = _login(client, "eve", Role.ADMIN, team=_team(client, "red"))
    assert client.get(f"{base}/1", headers=outsider).status_code == 404


def _team(client: TestClient, name: str) -> str:
    return client_stack(client).auth.accounts.create_team(name, actor=Actor.local()).id


def _events(text: str) -> list[dict[str, Any]]:
    return [
        json.loads(line.removeprefix("data: "))
        for line in text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def test_conversations_are_kept_per_user_and_shared_read_only(client: TestClient) -> None:
    client.post("/api/collections", json={"name": "notes"})
    client.post(
        "/api/collections/notes/files", files=[("files", ("a.txt", b"The gate code is 4471."))]
    )
    _wait_completed(client, "notes")
    owner = _login(client, "olga", Role.VIEWER)
    mate = _login(client, "max", Role.DEVELOPER)
    outsider = _login(client, "ina", Role.ADMIN, team=_team(client, "green"))

    made = client.post("/api/conversations", json={"collections": ["notes"]}, headers=owner)
    assert made.status_code == 201, made.text
    conversation = made.json()
    assert conversation["title"] == ""
    assert conversation["messages"] == []
    path = f"/api/conversations/{conversation['id']}"

    asked = client.post(
        f"{path}/messages", json={"content": "What is the gate code?"}, headers=owner
    )
    assert asked.status_code == 200, asked.text
    assert asked.headers["content-type"].startswith("text/event-stream")
    streamed = "".join(
        choice["delta"].get("content", "")
        for event in _events(asked.text)
        for choice in event.get("choices", [])
    )
    kept = client.get(path, headers=owner).json()
    assert kept["title"] == "What is the gate code?"
    assert [(m["role"], m["content"]) for m in kept["messages"]] == [
        ("user", "What is the gate code?"),
        ("assistant", streamed),
    ]
    assert streamed

    # Not shared yet: the teammate does not see it; shared: they read it, cannot change it.
    assert client.get(path, headers=mate).status_code == 404
    assert client.patch(path, json={"shared": True}, headers=owner).json()["shared"] is True
    assert client.get(path, headers=mate).json()["messages"] == kept["messages"]
    listed = client.get("/api/conversations", params={"shared": "true"}, headers=mate).json()
    assert [c["id"] for c in listed["data"]] == [conversation["id"]]
    assert client.get("/api/conversations", headers=mate).json()["data"] == []
    for method, url, body in (
        ("PATCH", path, {"title": "mine"}),
        ("POST", f"{path}/messages", {"content": "And?"}),
        ("DELETE", path, None),
    ):
        refused = client.request(method, url, json=body, headers=mate)
        assert refused.status_code == 403, (method, url, refused.text)
    # Another team: not there at all.
    assert client.get(path, headers=outsider).status_code == 404
    assert (
        client.get("/api/conversations", params={"shared": "true"}, headers=outsider).json()["data"]
        == []
    )

    renamed = client.patch(path, json={"title": "Gate"}, headers=owner).json()
    assert renamed["title"] == "Gate"
    assert client.delete(path, headers=owner).status_code == 200
    assert client.get(path, headers=owner).status_code == 404
    assert client.get(path, headers=mate).status_code == 404


def test_a_conversation_needs_collections_the_caller_may_read(client: TestClient) -> None:
    empty = client.post("/api/conversations", json={}).json()
    refused = client.post(f"/api/conversations/{empty['id']}/messages", json={"content": "Hi?"})
    assert refused.status_code == 400
    assert "no collections" in refused.json()["error"]["message"]
    assert client.get(f"/api/conversations/{empty['id']}").json()["messages"] == []
    unknown = client.post("/api/conversations", json={"collections": ["nowhere"]})
    assert unknown.status_code == 404


def test_a_generated_password_is_due_for_a_change_until_the_user_changes_it(
    client: TestClient,
) -> None:
    admin = _login(client, "ada", Role.ADMIN)
    made = client.post("/api/users", json={"username": "gina", "role": "viewer"}, headers=admin)
    assert made.status_code == 201, made.text
    generated = made.json()["password"]
    made = made.json()
    assert made["password_change_due"] is True
    token = client.post("/api/auth/login", json={"username": "gina", "password": generated})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert client.get("/api/auth/me", headers=headers).json()["password_change_due"] is True
    changed = client.post(
        "/api/auth/password",
        json={"current_password": generated, "new_password": PASSWORD},
        headers=headers,
    )
    assert changed.status_code == 204, changed.text
    assert client.get("/api/users/gina", headers=admin).json()["password_change_due"] is False
    # An admin's reset makes it due again, and so does a password an admin chose.
    reset = client.post("/api/users/gina/password", json={}, headers=admin).json()
    assert reset["password_change_due"] is True
    chosen = client.post(
        "/api/users",
        json={"username": "hugo", "role": "viewer", "password": PASSWORD},
        headers=admin,
    ).json()
    assert chosen["password_change_due"] is True  # set by an admin, not by hugo


def test_the_first_admin_with_a_generated_password_is_due_for_a_change(stack: Stack) -> None:
    first = stack.auth.first_admin
    assert first is not None
    assert first.password
    assert stack.auth.accounts.get_user(first.username).password_change_due is True


def test_an_admin_resets_a_users_two_factor_authentication(client: TestClient) -> None:
    stack = client_stack(client)
    headers = _login(client, "tara", Role.DEVELOPER)
    secret = client.post("/api/auth/mfa/totp", headers=headers).json()["secret"]
    code = pyotp.TOTP(secret).now()
    confirmed = client.post("/api/auth/mfa/totp/confirm", json={"code": code}, headers=headers)
    assert confirmed.status_code == 200, confirmed.text
    assert stack.auth.accounts.get_user("tara").totp_enabled

    admin = _login(client, "ada", Role.ADMIN)
    reset = client.post("/api/users/tara/mfa/reset", headers=admin)
    assert reset.status_code == 200, reset.text
    assert reset.json()["mfa_enabled"] is False
    # Every login of the user ended; they log in with the password alone.
    assert client.get("/api/auth/me", headers=headers).status_code == 401
    again = client.post("/api/auth/login", json={"username": "tara", "password": PASSWORD})
    assert again.status_code == 200
    assert client.post("/api/users/tara/mfa/reset", headers=admin).status_code == 409
    assert client.post("/api/users/tara/mfa/reset", headers=headers).status_code == 401
    (event,) = stack.auth.audit.query(AuditQuery(action="mfa.reset"))
    assert event.target == stack.auth.accounts.get_user("tara").id


def test_files_report_their_length(client: TestClient) -> None:
    client.post("/api/collections", json={"name": "lengths"})
    client.post(
        "/api/collections/lengths/files",
        files=[("files", ("three.pdf", make_pdf(["one", "two", "three"])))],
    )
    (pdf,) = _wait_completed(client, "lengths")
    assert (pdf["page_count"], pdf["duration_seconds"]) == (3, None)
