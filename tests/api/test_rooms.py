"""Rooms: create / list / get / update / close, with the 401/403/404/409/422 cases and one error shape."""

from __future__ import annotations

import redis
from api_helpers import REDIS_URL, assert_error, bearer, join_token
from fastapi.testclient import TestClient


def test_create_get_list_update_close(client: TestClient, admin: dict[str, str]) -> None:
    body = {
        "name": "Weekly sync",
        "slug": "weekly",
        "spoken_languages": ["en"],
        "caption_languages": ["es", "fr"],
        "glossary": ["Parley", "mediasoup"],
        "prompt": "A team meeting.",
        "max_participants": 10,
    }
    created = client.post("/api/v1/rooms", json=body, headers=admin)
    assert created.status_code == 201, created.text
    room = created.json()
    assert (
        room["slug"] == "weekly" and room["status"] == "open" and room["glossary"] == ["Parley", "mediasoup"]
    )
    live = redis.Redis.from_url(REDIS_URL).hgetall("room:weekly")
    assert (
        live[b"language"] == b"en"
        and live[b"hotwords"] == b"Parley mediasoup"
        and live[b"prompt"] == b"A team meeting."
    )

    assert client.get("/api/v1/rooms/weekly", headers=admin).json()["name"] == "Weekly sync"
    patched = client.patch(
        "/api/v1/rooms/weekly", json={"spoken_languages": ["en", "es"], "glossary": ["Ana"]}, headers=admin
    )
    assert patched.status_code == 200 and patched.json()["spoken_languages"] == ["en", "es"]
    live = redis.Redis.from_url(REDIS_URL).hgetall("room:weekly")
    assert live[b"language"] == b"auto" and live[b"hotwords"] == b"Ana"

    closed = client.post("/api/v1/rooms/weekly/close", headers=admin)
    assert closed.status_code == 200 and closed.json()["status"] == "closed" and closed.json()["closed_at"]
    assert client.post("/api/v1/rooms/weekly/close", headers=admin).status_code == 200  # idempotent
    commands = redis.Redis.from_url(REDIS_URL).xrange("sfu:commands")
    assert [c[1][b"type"] for c in commands] == [b"close"]
    assert_error(client.patch("/api/v1/rooms/weekly", json={"name": "x"}, headers=admin), 409, "conflict")


def test_slug_made_from_name_and_duplicates_conflict(
    client: TestClient, admin: dict[str, str], room: str
) -> None:
    made = client.post("/api/v1/rooms", json={"name": "Board meeting!"}, headers=admin).json()
    assert made["slug"].startswith("board-meeting-")
    err = assert_error(
        client.post("/api/v1/rooms", json={"name": "Again", "slug": room}, headers=admin), 409, "conflict"
    )
    assert "already exists" in str(err["message"])


def test_pagination(client: TestClient, admin: dict[str, str]) -> None:
    for i in range(5):
        assert (
            client.post("/api/v1/rooms", json={"name": f"r{i}", "slug": f"r{i}"}, headers=admin).status_code
            == 201
        )
    client.post("/api/v1/rooms/r0/close", headers=admin)
    page = client.get("/api/v1/rooms?limit=2&offset=0", headers=admin).json()
    assert page["total"] == 5 and page["limit"] == 2 and len(page["items"]) == 2
    rest = client.get("/api/v1/rooms?limit=2&offset=4", headers=admin).json()
    assert len(rest["items"]) == 1
    seen = {
        x["slug"]
        for p in (0, 2, 4)
        for x in client.get(f"/api/v1/rooms?limit=2&offset={p}", headers=admin).json()["items"]
    }
    assert seen == {f"r{i}" for i in range(5)}
    assert client.get("/api/v1/rooms?status=closed", headers=admin).json()["total"] == 1
    assert_error(client.get("/api/v1/rooms?limit=0", headers=admin), 422, "invalid")


def test_auth_errors(client: TestClient, admin: dict[str, str], room: str) -> None:
    assert_error(client.get("/api/v1/rooms"), 401, "unauthorized")
    assert_error(client.get("/api/v1/rooms", headers=bearer("pk_deadbeef_nope")), 401, "unauthorized")
    assert_error(client.get("/api/v1/rooms", headers=bearer("not-a-token")), 401, "unauthorized")
    assert_error(client.get("/api/v1/rooms", headers=bearer(join_token(room, role="host"))), 403, "forbidden")
    # A host token opens its own room, not another, and a guest's token opens neither.
    assert (
        client.get(f"/api/v1/rooms/{room}", headers=bearer(join_token(room, role="host"))).status_code == 200
    )
    assert_error(
        client.get(f"/api/v1/rooms/{room}", headers=bearer(join_token(room, role="guest"))), 403, "forbidden"
    )
    assert_error(
        client.get(f"/api/v1/rooms/{room}", headers=bearer(join_token("other", role="host"))),
        403,
        "forbidden",
    )
    assert_error(
        client.get(f"/api/v1/rooms/{room}", headers=bearer(join_token(room, role="host", ttl_s=-100))),
        401,
        "unauthorized",
    )


def test_not_found_and_invalid(client: TestClient, admin: dict[str, str]) -> None:
    err = assert_error(client.get("/api/v1/rooms/nope", headers=admin), 404, "not_found")
    assert "nope" in str(err["message"])
    assert_error(client.patch("/api/v1/rooms/nope", json={"name": "x"}, headers=admin), 404, "not_found")
    err = assert_error(client.post("/api/v1/rooms", json={"slug": "x"}, headers=admin), 422, "invalid")
    assert err["details"] and "name" in str(err["message"])
    assert_error(
        client.post("/api/v1/rooms", json={"name": "x", "slug": "bad slug"}, headers=admin), 422, "invalid"
    )
    assert_error(
        client.post("/api/v1/rooms", json={"name": "x", "max_participants": 0}, headers=admin), 422, "invalid"
    )
    assert_error(client.post("/api/v1/rooms", json={"name": "x", "bogus": 1}, headers=admin), 422, "invalid")
    assert_error(
        client.post(
            "/api/v1/rooms", content=b"{not json", headers={**admin, "content-type": "application/json"}
        ),
        422,
        "invalid",
    )
