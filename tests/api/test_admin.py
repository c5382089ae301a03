"""Admin login (rate limited) and API keys (hashed, revocable)."""

from __future__ import annotations

import asyncpg
from api_helpers import ADMIN_PASSWORD, assert_error, bearer, plain_dsn, run_sync
from fastapi.testclient import TestClient
from parley_gateway.settings import GatewaySettings


def test_login_and_keys(client: TestClient, settings: GatewaySettings) -> None:
    assert_error(
        client.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong"}),
        401,
        "unauthorized",
    )
    assert_error(
        client.post("/api/v1/auth/login", json={"username": "nobody", "password": "x"}), 401, "unauthorized"
    )
    token = client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).json()[
        "access_token"
    ]
    made = client.post("/api/v1/api-keys", json={"name": "ci"}, headers=bearer(token))
    assert made.status_code == 201
    key = made.json()["key"]
    assert key.startswith("pk_")
    listed = client.get("/api/v1/api-keys", headers={"X-API-Key": key}).json()
    assert listed["total"] == 1 and "key" not in listed["items"][0] and listed["items"][0]["last_used_at"]

    async def stored() -> list[str]:
        conn = await asyncpg.connect(plain_dsn(settings.database_url))
        try:
            return [r["key_hash"] for r in await conn.fetch("SELECT key_hash FROM api_keys")]
        finally:
            await conn.close()

    hashes = run_sync(stored)
    assert hashes and key not in hashes[0] and len(hashes[0]) == 64
    key_id = made.json()["id"]
    assert client.delete(f"/api/v1/api-keys/{key_id}", headers=bearer(token)).status_code == 204
    assert_error(client.get("/api/v1/rooms", headers=bearer(key)), 401, "unauthorized")
    assert_error(client.delete("/api/v1/api-keys/999", headers=bearer(token)), 404, "not_found")


def test_login_rate_limited(client: TestClient, settings: GatewaySettings) -> None:
    codes = [
        client.post("/api/v1/auth/login", json={"username": "admin", "password": f"guess{i}"}).status_code
        for i in range(settings.login_rate_per_min + 1)
    ]
    # a few wrong passwords, then this (user, address) waits 2, 4, 8 ... s between attempts
    free = settings.login_free_failures
    assert codes[:free] == [401] * free and set(codes[free:]) == {429}
    # even the right password waits it out (from another address it would not: tests/security)
    right = client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert_error(right, 429, "rate_limited")


def test_accounts_and_password_change(client: TestClient, admin: dict[str, str]) -> None:
    made = client.post(
        "/api/v1/admin-accounts", json={"username": "ops", "password": "ops-password-1"}, headers=admin
    )
    assert made.status_code == 201 and made.json()["disabled"] is False
    assert_error(
        client.post(
            "/api/v1/admin-accounts", json={"username": "ops", "password": "ops-password-1"}, headers=admin
        ),
        409,
        "conflict",
    )
    listed = client.get("/api/v1/admin-accounts", headers=admin).json()
    assert [a["username"] for a in listed["items"]] == ["admin", "ops"]
    login = client.post("/api/v1/auth/login", json={"username": "ops", "password": "ops-password-1"})
    session = bearer(login.json()["access_token"])
    change = {"current_password": "wrong-password", "new_password": "ops-password-2"}
    assert_error(client.post("/api/v1/auth/password", json=change, headers=session), 403, "forbidden")
    short = {"current_password": "ops-password-1", "new_password": "short"}
    assert_error(client.post("/api/v1/auth/password", json=short, headers=session), 422, "invalid")
    # an API key has no password of its own
    change["current_password"] = "ops-password-1"
    assert_error(client.post("/api/v1/auth/password", json=change, headers=admin), 403, "forbidden")
    assert client.post("/api/v1/auth/password", json=change, headers=session).status_code == 204
    assert_error(client.get("/api/v1/rooms", headers=session), 401, "unauthorized")
    again = client.post("/api/v1/auth/login", json={"username": "ops", "password": "ops-password-2"})
    assert client.get("/api/v1/rooms", headers=bearer(again.json()["access_token"])).status_code == 200
    enabled = client.patch("/api/v1/admin-accounts/ops", json={"disabled": True}, headers=admin)
    assert enabled.json()["disabled"] is True
    assert_error(
        client.patch("/api/v1/admin-accounts/nobody", json={"disabled": True}, headers=admin),
        404,
        "not_found",
    )
