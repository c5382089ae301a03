"""Join tokens: each bad token is refused with its reason, at the API, the caption socket and the SFU."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import asyncpg
import jwt
import pytest
from api_helpers import SECRET, assert_error, bearer, join_token, plain_dsn, run_sync
from fastapi.testclient import TestClient
from parley_common.tokens import TokenError, issue_join_token, verify_join_token
from parley_gateway.app import create_app
from parley_gateway.auth.tokens import issue_admin_token, verify_admin_token
from parley_gateway.settings import GatewaySettings
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect


def test_round_trip() -> None:
    token = issue_join_token(SECRET, "demo", "alice", "Alice", "host", 60)
    claims = verify_join_token(SECRET, token, "demo")
    assert (claims.room, claims.sub, claims.name, claims.role) == ("demo", "alice", "Alice", "host")
    assert claims.exp - claims.iat == 60
    raw = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert set(raw) == {"room", "sub", "name", "role", "iat", "exp"}


def _tampered(token: str) -> str:
    head, payload, sig = token.split(".")
    return ".".join((head, payload, sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")))


BAD = {
    "missing": lambda: "",
    "expired": lambda: join_token("demo", ttl_s=-120),
    "invalid": lambda: _tampered(join_token("demo")),
    "wrong_room": lambda: join_token("other"),
}


@pytest.mark.parametrize("reason", sorted(BAD))
def test_refused(reason: str) -> None:
    with pytest.raises(TokenError) as err:
        verify_join_token(SECRET, BAD[reason](), "demo")
    assert err.value.reason == reason and err.value.message


def test_other_secret_alg_none_and_bad_claims_refused() -> None:
    with pytest.raises(TokenError, match="signature"):
        verify_join_token(SECRET, join_token("demo", secret="another-secret-of-enough-length-000"), "demo")
    unsigned = jwt.encode(
        {"room": "demo", "sub": "a", "name": "A", "role": "host", "iat": 1, "exp": 2**40},
        None,
        algorithm="none",
    )
    with pytest.raises(TokenError):
        verify_join_token(SECRET, unsigned, "demo")
    bad_role = jwt.encode(
        {"room": "demo", "sub": "a", "name": "A", "role": "king", "iat": 1, "exp": 2**40}, SECRET
    )
    with pytest.raises(TokenError, match="malformed"):
        verify_join_token(SECRET, bad_role, "demo")
    no_name = jwt.encode({"room": "demo", "sub": "a", "role": "host", "iat": 1, "exp": 2**40}, SECRET)
    with pytest.raises(TokenError, match="name"):
        verify_join_token(SECRET, no_name, "demo")


def test_admin_and_join_tokens_not_interchangeable() -> None:
    admin = issue_admin_token(SECRET, "admin", 60)
    assert verify_admin_token(SECRET, admin)[0] == "admin"
    with pytest.raises(TokenError):
        verify_join_token(SECRET, admin, "demo")
    with pytest.raises(TokenError):
        verify_admin_token(SECRET, join_token("demo", role="host"))


def test_placeholder_secrets_refused_outside_development() -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        GatewaySettings(env="production")
    with pytest.raises(ValidationError, match="admin_password"):  # still the placeholder
        GatewaySettings(env="production", join_token_secret="x" * 40, admin_session_secret="y" * 40)
    ok = GatewaySettings(
        env="production",
        join_token_secret="x" * 40,
        admin_session_secret="y" * 40,
        admin_password="a-real-password",
    )
    assert ok.env == "production"  # the rest of the rule: tests/security/test_gateway_secrets.py
    assert GatewaySettings().join_token_secret == "dev-secret-change-me"  # fine in development


def _ws_refusal(client: TestClient, url: str) -> tuple[dict[str, object], int]:
    with client.websocket_connect(url) as ws:
        msg = json.loads(ws.receive_text())
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    return msg, closed.value.code


@pytest.mark.parametrize("reason", sorted(BAD))
def test_caption_socket_refuses(client: TestClient, reason: str) -> None:
    token = BAD[reason]()
    msg, code = _ws_refusal(client, f"/ws/rooms/demo/captions?lang=en&token={token}")
    assert msg["type"] == "error" and reason in str(msg["error"]) and code == 1008


def test_caption_socket_accepts_and_refuses_removed(
    client: TestClient, admin: dict[str, str], room: str
) -> None:
    with client.websocket_connect(
        f"/ws/rooms/{room}/captions?token={join_token(room, 'bob', 'listener')}"
    ) as ws:
        assert json.loads(ws.receive_text())["type"] == "hello"
    token = client.post(
        f"/api/v1/rooms/{room}/tokens", json={"name": "Eve", "participant_id": "eve"}, headers=admin
    ).json()["token"]
    assert client.delete(f"/api/v1/rooms/{room}/participants/eve", headers=admin).status_code == 200
    msg, code = _ws_refusal(client, f"/ws/rooms/{room}/captions?token={token}")
    assert "removed" in str(msg["error"]) and code == 1008


def test_caption_socket_open_when_auth_not_required(settings: GatewaySettings) -> None:
    with (
        TestClient(create_app(settings.model_copy(update={"auth_required": False}))) as c,
        c.websocket_connect("/ws/rooms/demo/captions") as ws,
    ):
        assert json.loads(ws.receive_text())["type"] == "hello"


def test_issue_token_api(client: TestClient, admin: dict[str, str], room: str) -> None:
    resp = client.post(
        f"/api/v1/rooms/{room}/tokens", json={"name": "Ana", "role": "listener", "ttl_s": 120}, headers=admin
    )
    assert resp.status_code == 201, resp.text
    out = resp.json()
    claims = verify_join_token(SECRET, out["token"], room)
    assert claims.role == "listener" and claims.name == "Ana" and claims.sub == out["participant_id"]
    assert claims.exp - claims.iat == 120 and out["captions_url"].startswith(
        f"/ws/rooms/{room}/captions?token="
    )
    assert_error(
        client.post(f"/api/v1/rooms/{room}/tokens", json={"name": "Ana", "role": "king"}, headers=admin),
        422,
        "invalid",
    )
    assert_error(
        client.post("/api/v1/rooms/nope/tokens", json={"name": "Ana"}, headers=admin), 404, "not_found"
    )
    # only admins issue arbitrary tokens; a host invites instead
    host = bearer(join_token(room, "h", "host"))
    assert_error(
        client.post(f"/api/v1/rooms/{room}/tokens", json={"name": "X"}, headers=host), 403, "forbidden"
    )
    client.post(f"/api/v1/rooms/{room}/close", headers=admin)
    assert_error(
        client.post(f"/api/v1/rooms/{room}/tokens", json={"name": "Late"}, headers=admin), 409, "conflict"
    )


def test_max_participants(client: TestClient, admin: dict[str, str], settings: GatewaySettings) -> None:
    """Full means that many people are in the room (an open SFU session), not that many tokens."""
    client.post(
        "/api/v1/rooms", json={"name": "Small", "slug": "small", "max_participants": 1}, headers=admin
    )
    for name in ("A", "A", "B"):  # nobody has joined yet: tokens are issued
        body = {"name": name, "participant_id": name.lower()}
        assert client.post("/api/v1/rooms/small/tokens", json=body, headers=admin).status_code == 201

    async def a_joins() -> None:
        conn = await asyncpg.connect(plain_dsn(settings.database_url))
        try:
            await conn.execute(
                "INSERT INTO participant_sessions (participant_id, source, ref) "
                "SELECT id, 'sfu', 'sfu:producer-a' FROM participants WHERE key = 'a'"
            )
        finally:
            await conn.close()

    run_sync(a_joins)
    # A is in: A may have a token again, nobody else
    assert (
        client.post(
            "/api/v1/rooms/small/tokens", json={"name": "A", "participant_id": "a"}, headers=admin
        ).status_code
        == 201
    )
    assert_error(
        client.post("/api/v1/rooms/small/tokens", json={"name": "C"}, headers=admin), 409, "conflict"
    )


def test_token_issuance_rate_limited(
    client: TestClient, admin: dict[str, str], room: str, settings: GatewaySettings
) -> None:
    codes = [
        client.post(f"/api/v1/rooms/{room}/tokens", json={"name": "N"}, headers=admin).status_code
        for _ in range(settings.token_rate_per_min + 1)
    ]
    assert codes[:-1] == [201] * settings.token_rate_per_min
    last = client.post(f"/api/v1/rooms/{room}/tokens", json={"name": "N"}, headers=admin)
    assert_error(last, 429, "rate_limited")
    assert int(last.headers["Retry-After"]) >= 1


def test_invite_links(client: TestClient, admin: dict[str, str], room: str) -> None:
    host = bearer(join_token(room, "h", "host"))
    inv = client.post(f"/api/v1/rooms/{room}/invites", json={"max_uses": 2}, headers=host)
    assert inv.status_code == 201, inv.text
    code = inv.json()["code"]
    assert inv.json()["url"] == f"http://parley.test/join/{code}"
    joined = client.post(f"/api/v1/invites/{code}/join", json={"name": "Guest One"})
    assert joined.status_code == 201, joined.text
    claims = verify_join_token(SECRET, joined.json()["token"], room)  # this room only, as a guest
    assert claims.role == "guest" and claims.name == "Guest One"
    with pytest.raises(TokenError):
        verify_join_token(SECRET, joined.json()["token"], "other")
    assert client.post(f"/api/v1/invites/{code}/join", json={"name": "Two"}).status_code == 201
    assert_error(client.post(f"/api/v1/invites/{code}/join", json={"name": "Three"}), 409, "conflict")
    assert_error(client.post("/api/v1/invites/notarealcode1234/join", json={"name": "X"}), 404, "not_found")
    guest = bearer(join_token(room, "g", "guest"))
    assert_error(client.post(f"/api/v1/rooms/{room}/invites", json={}, headers=guest), 403, "forbidden")
    assert_error(
        client.post(f"/api/v1/rooms/{room}/invites", json={}, headers=bearer(join_token("x", "h", "host"))),
        403,
        "forbidden",
    )


SFU_TOKEN_JS = Path(__file__).parents[2] / "mediasoup-node" / "dist" / "src" / "token.js"


@pytest.mark.skipif(not (shutil.which("node") and SFU_TOKEN_JS.is_file()), reason="SFU not built")
def test_sfu_verifier_agrees() -> None:
    """The SFU's own verifier (mediasoup-node) accepts our token and refuses the bad ones."""
    cases = {"ok": join_token("demo", role="listener"), **{k: v() for k, v in BAD.items()}}
    script = (
        f"const t = require({json.dumps(str(SFU_TOKEN_JS))});"
        f" const cases = {json.dumps(cases)}; const out = {{}};"
        "for (const [k, tok] of Object.entries(cases)) { try {"
        f" const c = t.verifyJoinToken(tok, {json.dumps(SECRET)});"
        " if (c.room !== 'demo') throw new Error('room');"
        " out[k] = 'ok'; } catch (e) { out[k] = 'refused'; } }"
        "console.log(JSON.stringify(out));"
    )
    proc = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        pytest.skip(f"SFU verifier not callable this way: {proc.stderr[:200]}")
    out = json.loads(proc.stdout)
    assert out == {
        "ok": "ok",
        "missing": "refused",
        "expired": "refused",
        "invalid": "refused",
        "wrong_room": "refused",
    }
