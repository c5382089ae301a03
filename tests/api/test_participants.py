"""Participants (live and past), host mute / remove announced on sfu:commands, and live stats."""

from __future__ import annotations

import time

import redis
from api_helpers import REDIS_URL, assert_error, bearer, join_token
from fastapi.testclient import TestClient
from parley_common import keys


def test_list_mute_remove(client: TestClient, admin: dict[str, str], room: str) -> None:
    for pid in ("ana", "ben"):
        client.post(
            f"/api/v1/rooms/{room}/tokens", json={"name": pid.title(), "participant_id": pid}, headers=admin
        )
    rds = redis.Redis.from_url(REDIS_URL)
    rds.zadd(keys.SPEAKERS_ACTIVE, {f"{room}/ana": time.time()})
    everyone = client.get(f"/api/v1/rooms/{room}/participants", headers=admin).json()
    assert [(x["participant_id"], x["live"]) for x in everyone["items"]] == [("ana", True), ("ben", False)]
    assert [
        x["participant_id"]
        for x in client.get(f"/api/v1/rooms/{room}/participants?live=true", headers=admin).json()["items"]
    ] == ["ana"]
    assert (
        client.get(f"/api/v1/rooms/{room}/participants?live=false&limit=1", headers=admin).json()["total"]
        == 1
    )

    host = bearer(join_token(room, "hal", "host"))
    muted = client.post(f"/api/v1/rooms/{room}/participants/ana/mute", headers=host)
    assert muted.status_code == 200 and muted.json()["announced"]
    assert_error(
        client.post(f"/api/v1/rooms/{room}/participants/ana/mute", headers=bearer(join_token(room, "ben"))),
        403,
        "forbidden",
    )
    assert_error(client.post(f"/api/v1/rooms/{room}/participants/zed/mute", headers=host), 404, "not_found")
    assert client.delete(f"/api/v1/rooms/{room}/participants/ben", headers=host).status_code == 200
    cmds = [(c[1][b"type"], c[1][b"peer"], c[1][b"by"]) for c in rds.xrange("sfu:commands")]
    assert cmds == [
        (b"mute", b"ana", f"host:{room}/hal".encode()),
        (b"remove", b"ben", f"host:{room}/hal".encode()),
    ]
    ben = [
        x
        for x in client.get(f"/api/v1/rooms/{room}/participants", headers=admin).json()["items"]
        if x["participant_id"] == "ben"
    ]
    assert ben[0]["removed"] and not ben[0]["live"]
    # removed: no new token under that id
    assert_error(
        client.post(
            f"/api/v1/rooms/{room}/tokens", json={"name": "Ben", "participant_id": "ben"}, headers=admin
        ),
        403,
        "forbidden",
    )
    assert_error(client.post(f"/api/v1/rooms/{room}/participants/ben/mute", headers=admin), 409, "conflict")


def test_stats(client: TestClient, admin: dict[str, str]) -> None:
    rds = redis.Redis.from_url(REDIS_URL)
    now = time.time()
    rds.zadd(keys.SPEAKERS_ACTIVE, {"r1/a": now, "r1/b": now, "r2/c": now, "r3/old": now - 600})
    rds.zadd(keys.room_languages("r4"), {"es": now + 30})
    rds.xgroup_create(keys.STT_JOBS_FINAL, keys.STT_GROUP, id="0", mkstream=True)
    for i in range(3):
        rds.xadd(keys.STT_JOBS_FINAL, {"i": str(i)})
    rds.xreadgroup(keys.STT_GROUP, "stt-1", {keys.STT_JOBS_FINAL: ">"}, count=1)
    rds.xreadgroup(keys.STT_GROUP, "stt-2", {keys.STT_JOBS_FINAL: ">"}, count=1)
    out = client.get("/api/v1/stats", headers=admin).json()
    assert out["active_rooms"] == 3 and out["active_speakers"] == 3
    assert {x["room"]: x["speakers"] for x in out["rooms"]} == {"r1": 2, "r2": 1, "r4": 0}
    stage = next(s for s in out["stages"] if s["stream"] == keys.STT_JOBS_FINAL)
    assert (stage["length"], stage["pending"], stage["lag"], stage["replicas"]) == (3, 2, 1, 2)
    assert stage["lag_s"] >= 0 and out["replicas"]["stt"] == 2 and out["replicas"]["translate"] == 0
    assert_error(client.get("/api/v1/stats"), 401, "unauthorized")


def test_unmute_and_muted_set(client: TestClient, admin: dict[str, str], room: str) -> None:
    client.post(f"/api/v1/rooms/{room}/tokens", json={"name": "Ana", "participant_id": "ana"}, headers=admin)
    rds = redis.Redis.from_url(REDIS_URL)
    host = bearer(join_token(room, "hal", "host"))
    assert client.post(f"/api/v1/rooms/{room}/participants/ana/mute", headers=host).status_code == 200
    assert rds.smembers(f"room:{room}:muted") == {b"ana"}
    assert client.get(f"/api/v1/rooms/{room}/participants", headers=admin).json()["items"][0]["muted"]
    unmuted = client.post(f"/api/v1/rooms/{room}/participants/ana/unmute", headers=host)
    assert unmuted.status_code == 200 and unmuted.json()["action"] == "unmute"
    assert rds.smembers(f"room:{room}:muted") == set()
    assert not client.get(f"/api/v1/rooms/{room}/participants", headers=admin).json()["items"][0]["muted"]
    assert [c[1][b"type"] for c in rds.xrange("sfu:commands")] == [b"mute", b"unmute"]
    guest = bearer(join_token(room, "ana"))
    assert_error(
        client.post(f"/api/v1/rooms/{room}/participants/ana/unmute", headers=guest), 403, "forbidden"
    )


def test_invites_listed_without_codes_and_revoked(
    client: TestClient, admin: dict[str, str], room: str
) -> None:
    made = client.post(f"/api/v1/rooms/{room}/invites", json={"max_uses": 3}, headers=admin).json()
    host = bearer(join_token(room, "hal", "host"))
    listed = client.get(f"/api/v1/rooms/{room}/invites", headers=host).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == made["id"]
    assert "code" not in listed["items"][0] and listed["items"][0]["revoked_at"] is None
    assert client.post(f"/api/v1/invites/{made['code']}/join", json={"name": "Gus"}).status_code == 201
    assert client.get(f"/api/v1/rooms/{room}/invites", headers=host).json()["items"][0]["uses"] == 1
    assert client.delete(f"/api/v1/rooms/{room}/invites/{made['id']}", headers=host).status_code == 204
    assert client.delete(f"/api/v1/rooms/{room}/invites/{made['id']}", headers=host).status_code == 204
    assert_error(client.post(f"/api/v1/invites/{made['code']}/join", json={"name": "Gus"}), 404, "not_found")
    assert_error(client.delete(f"/api/v1/rooms/{room}/invites/999", headers=host), 404, "not_found")
    guest = bearer(join_token(room, "gus"))
    assert_error(client.get(f"/api/v1/rooms/{room}/invites", headers=guest), 403, "forbidden")
