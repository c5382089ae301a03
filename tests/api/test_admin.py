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
