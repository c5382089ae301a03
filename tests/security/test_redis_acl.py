"""Redis with one user per service (stack/config/redis-users.acl, made into an ACL file by
stack/config/redis-acl.sh as the stack's redis does): a compromised service reaches only its own
keys, an anonymous client nothing but PING, and the real services still carry a meeting's speech to
captions with no command refused."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from parley_common import keys
from parley_feeder.feeder import load_audio, open_speaker
from parley_testkit.caption_client import CaptionClient
from parley_testkit.procs import LocalStack, free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "stack" / "config" / "redis-users.acl"
MAKE_ACL = ROOT / "stack" / "config" / "redis-acl.sh"
USERS = ("gateway", "stt", "translate", "persister", "ingest", "sfu")
CLIP = Path("/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav")
ARTIFACTS = ROOT / "artifacts" / "logs" / "security" / "redis-acl"
pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server is not installed")


class AclRedis:
    def __init__(self, port: int, passwords: dict[str, str]) -> None:
        self.port, self.passwords = port, passwords

    def url(self, user: str | None = None) -> str:
        auth = f"{user}:{self.passwords[user]}@" if user else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self, user: str | None = None) -> redis.Redis:
        return redis.Redis.from_url(self.url(user))


@pytest.fixture(scope="module")
def acl_redis(database_url: str) -> Iterator[AclRedis]:
    work = Path(tempfile.mkdtemp(prefix="parley-redis-acl-"))
    (work / "secrets").mkdir()
    passwords = {u: secrets.token_hex(24) for u in USERS}
    for user, pw in passwords.items():
        (work / "secrets" / f"parley_redis_{user}").write_text(pw + "\n")
    subprocess.run([str(MAKE_ACL), str(TEMPLATE), str(work / "secrets"), str(work / "users.acl")], check=True)
    assert all(pw not in (work / "users.acl").read_text() for pw in passwords.values())
    passwords["operator"] = secrets.token_hex(24)  # this test's own admin, to read ACL LOG
    with open(work / "users.acl", "a") as f:
        f.write(f"user operator on >{passwords['operator']} ~* &* +@all\n")
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(work), "--aclfile", str(work / "users.acl")],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    server = AclRedis(port, passwords)
    for _ in range(100):
        try:
            server.client().ping()
            break
        except redis.ConnectionError:
            subprocess.run(["sleep", "0.05"])
    yield server
    stop_process(proc)
    shutil.rmtree(work, ignore_errors=True)


def refused(call: object) -> bool:
    try:
        call() if callable(call) else None
    except redis.exceptions.NoPermissionError:
        return True
    except redis.exceptions.AuthenticationError:
        return True
    except redis.exceptions.ResponseError as exc:
        return "NOPERM" in str(exc) or "NOAUTH" in str(exc)
    return False


def test_anonymous_client_on_the_redis_network(acl_redis: AclRedis) -> None:
    anon = acl_redis.client()
    assert anon.ping()
    attempts = {
        "XADD sfu:commands": lambda: anon.xadd(keys.SFU_COMMANDS, {"type": "close", "room": "demo"}),
        "XRANGE captions": lambda: anon.xrange(keys.captions_stream("demo")),
        "FLUSHALL": lambda: anon.flushall(),
        "CONFIG SET": lambda: anon.config_set("appendonly", "no"),
    }
    got = {what: refused(call) for what, call in attempts.items()}
    print(f"[attack] anonymous Redis client: refused {got}")
    assert all(got.values())


def test_compromised_service_acts_outside_its_keys(acl_redis: AclRedis) -> None:
    """A translate replica forging a room close for the SFU, a persister reading everyone's audio,
    the SFU writing captions, an ingest flushing Redis: each is refused."""
    attempts = {
        "translate XADD sfu:commands": lambda: acl_redis.client("translate").xadd(
            keys.SFU_COMMANDS, {"v": "1", "type": "close", "room": "demo", "peer": "", "by": "x", "ts": "1"}
        ),
        "translate SADD room:demo:removed": lambda: acl_redis.client("translate").sadd(
            keys.room_removed("demo"), "host"
        ),
        "persister XRANGE audio": lambda: acl_redis.client("persister").xrange(
            keys.audio_stream("demo", "alice")
        ),
        "persister GET loginfail": lambda: acl_redis.client("persister").get("loginfail:x"),
        "sfu XADD captions": lambda: acl_redis.client("sfu").xadd(
            keys.captions_stream("demo"), {"data": "{}"}
        ),
        "sfu HSET room": lambda: acl_redis.client("sfu").hset(keys.room_info("demo"), "status", "open"),
        "ingest FLUSHALL": lambda: acl_redis.client("ingest").flushall(),
        "gateway XADD audio": lambda: acl_redis.client("gateway").xadd(
            keys.audio_stream("demo", "a"), {"pcm": b""}
        ),
        "stt CONFIG GET": lambda: acl_redis.client("stt").config_get("*"),
        "stt ACL LIST": lambda: acl_redis.client("stt").acl_list(),
    }
    got = {what: refused(call) for what, call in attempts.items()}
    print(
        f"[attack] a compromised service outside its keys: refused {sum(got.values())} of {len(got)}: {got}"
    )
    assert all(got.values())


async def test_the_services_carry_a_meeting_under_the_acl(acl_redis: AclRedis, database_url: str) -> None:
    """STT, translate, gateway and persister, each as its own user; audio written as the ingest
    writes it: a final reaches a listener and Postgres, and Redis refused nothing."""
    acl_redis.client("operator").acl_log_reset()  # only this meeting's refusals count
    stack = LocalStack(acl_redis.url("gateway"), ARTIFACTS, env={"PARLEY_DATABASE_URL": database_url})
    for name, module, user in (
        ("stt-1", "parley_stt", "stt"),
        ("translate-1", "parley_translate", "translate"),
        ("gateway", "parley_gateway", "gateway"),
        ("persister", "parley_gateway.persister", "persister"),
    ):
        stack.start(name, module, {"PARLEY_REDIS_URL": acl_redis.url(user), "PARLEY_GATEWAY_RTP_PORT": "0"})
    try:
        stack.wait_healthy(120)
        async with (
            CaptionClient(stack.caption_url("acl", "source")) as listener,
            CaptionClient(stack.caption_url("acl", "es", who="lector")) as spanish,
        ):
            r = aioredis.from_url(acl_redis.url("ingest"))
            sp = await open_speaker(r, "acl", "alice", "Alice", realtime=False, language="en")
            await sp.play(load_audio(str(CLIP)))
            await sp.silence(1.5)
            await sp.end()
            await r.aclose()
            finals = await listener.wait_finals(1, 90)
            translated = await spanish.wait_finals(1, 30)
        denied = [
            (e["username"], e["object"], e["reason"]) for e in acl_redis.client("operator").acl_log(100)
        ]
    finally:
        stack.stop()
    print(f"[acl] finals: {[f['text'] for f in finals + translated]}; ACL LOG: {denied}")
    assert finals and translated and translated[0]["lang"] == "es" and not denied
