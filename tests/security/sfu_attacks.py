"""What a guest holding a join token (a forwarded invite link) tries against the SFU (issue 13).

Each attack is an async function `attack(target) -> AttackResult`: it performs the attack against
the SFU's signalling WebSocket at `target.url` and says whether the SFU refused it. The tests in
tests/security/test_sfu_*.py run every attack against a real SFU (mediasoup worker) and a real
Redis started by `local_sfu`; `make attack` runs the same functions against a running deployment,
with tokens and host actions from the gateway's API (an `SfuTarget` built by its runner).
`ATTACKS` lists the ones that need nothing but a target.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import websockets
from parley_bot.client import Signalling, SignallingError
from parley_common.tokens import issue_join_token
from parley_testkit.procs import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "media")]
from media_helpers import SFU_DIR, SfuProcess, _wait_http, _wait_redis  # noqa: E402

from bench.load.users import opus_rtp_parameters  # noqa: E402

LOGS = ROOT / "artifacts" / "logs" / "security"

JsonObj = dict[str, Any]
TokenFn = Callable[[str, str, str], Awaitable[str]]  # (room, participant id, role) -> join token


class HostActions(Protocol):
    """What a host (or admin) does through the gateway's API; the SFU must enforce it."""

    async def close(self, room: str) -> None: ...
    async def remove(self, room: str, peer: str) -> None: ...
    async def mute(self, room: str, peer: str) -> None: ...
    async def unmute(self, room: str, peer: str) -> None: ...


@dataclass
class SfuTarget:
    url: str  # ws://host:port/ws
    token: TokenFn
    host: HostActions | None = None  # needed by the room-state attacks
    room_prefix: str = "atk"  # attacks make rooms named <prefix>-<attack>-<n>
    # websockets.connect options for every attacker socket (e.g. {"local_addr": ("127.0.0.2", 0)})
    socket_options: JsonObj = field(default_factory=dict)

    def room(self, name: str) -> str:
        return f"{self.room_prefix}-{name}-{int(time.time() * 1000) % 10**8}"


@dataclass
class AttackResult:
    name: str
    refused: bool  # the SFU stopped the attack (what it must do)
    detail: str

    def as_json(self) -> JsonObj:
        return {"attack": self.name, "refused": self.refused, "detail": self.detail}


async def connect(target: SfuTarget, **options: Any) -> Signalling:
    return await Signalling.connect(target.url, **{**target.socket_options, **options})


async def join_with_data(
    target: SfuTarget, room: str, sub: str, role: str = "guest", token: str | None = None, **options: Any
) -> tuple[Signalling, JsonObj]:
    """A joined socket and the `join` answer (router capabilities, peers, TURN servers...);
    `token`: one the attacker already holds (else a fresh one from the target)."""
    sig = await connect(target, **options)
    try:
        token = token or await target.token(room, sub, role)
        data = await sig.request("join", {"room": room, "token": token})
    except BaseException:
        await sig.close()
        raise
    return sig, data


async def joined(
    target: SfuTarget, room: str, sub: str, role: str = "guest", token: str | None = None, **options: Any
) -> Signalling:
    return (await join_with_data(target, room, sub, role, token, **options))[0]


async def close_code(sig: Signalling, timeout: float = 10.0) -> int | None:
    """The close code of a socket the SFU closes (None if it stays open for `timeout` s)."""
    try:
        await asyncio.wait_for(sig.ws.wait_closed(), timeout)
    except TimeoutError:
        return None
    return sig.ws.close_code


async def refusal(call: Awaitable[JsonObj]) -> str | None:
    """The error code a request got (None: it succeeded)."""
    try:
        await call
    except SignallingError as err:
        return err.code
    except websockets.ConnectionClosed:
        return "CLOSED"
    return None


async def close_all(socks: list[Signalling]) -> None:
    for s in socks:
        with contextlib.suppress(Exception):
            await s.close()


# ----------------------------------------------------------------------------- a local SFU


def sfu_skip_reason() -> str | None:
    if not shutil.which("redis-server"):
        return "redis-server is not installed"
    if not (SFU_DIR / "dist" / "src" / "main.js").exists():
        return "the SFU is not built: run `make mediasoup-build` first"
    return None


class RedisHostActions:
    """Host actions written to Redis exactly as the gateway's API writes them
    (services/gateway/parley_gateway/api/live.py; docs/signalling.md, `sfu:commands`)."""

    def __init__(self, redis_url: str) -> None:
        import redis

        self.r = redis.Redis.from_url(redis_url)

    def _command(self, kind: str, room: str, peer: str) -> None:
        fields = {
            "v": "1",
            "type": kind,
            "room": room,
            "peer": peer,
            "by": "host-1",
            "ts": str(int(time.time() * 1000)),
        }
        self.r.xadd("sfu:commands", fields, maxlen=10_000, approximate=True)

    async def close(self, room: str) -> None:
        self.r.hset(f"room:{room}", "status", "closed")
        self._command("close", room, "")

    async def remove(self, room: str, peer: str) -> None:
        self.r.sadd(f"room:{room}:removed", peer)
        self._command("remove", room, peer)

    async def mute(self, room: str, peer: str) -> None:
        self.r.sadd(f"room:{room}:muted", peer)
        self._command("mute", room, peer)

    async def unmute(self, room: str, peer: str) -> None:
        self.r.srem(f"room:{room}:muted", peer)
        self._command("unmute", room, peer)


@dataclass
class LocalSfu:
    """A real SFU process (mediasoup worker) and its own redis-server, on loopback."""

    url: str
    http: str
    redis_url: str
    secret: str
    process: SfuProcess
    host: RedisHostActions

    def target(self, **kw: Any) -> SfuTarget:
        async def token(room: str, sub: str, role: str) -> str:
            return issue_join_token(self.secret, room, sub, sub.title(), role, 600)

        return SfuTarget(self.url, token, self.host, **kw)

    def metric(self, name: str) -> float:
        import urllib.request

        with urllib.request.urlopen(f"{self.http}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.split("{")[0].split(" ")[0] == name
        )

    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace")


SECRET = "security-test-secret-0123456789-abcdef"


def sfu_env(ws_port: int, redis_url: str, **overrides: str) -> dict[str, str]:
    return {
        **os.environ,
        "PARLEY_ENV": "development",
        "SFU_WS_HOST": "127.0.0.1",
        "SFU_WS_PORT": str(ws_port),
        "SFU_LISTEN_IP": "127.0.0.1",
        "SFU_WEBRTC_PORT": "0",  # the WebRTC server on a free port of the plain range
        "SFU_RTC_MIN_PORT": "44000",
        "SFU_RTC_MAX_PORT": "44999",
        "SFU_NUM_WORKERS": "1",
        "GATEWAY_RTP_HOST": "127.0.0.1",
        "GATEWAY_RTP_PORT": str(free_port()),
        "JOIN_TOKEN_SECRET": SECRET,
        "REDIS_URL": redis_url,
        "SFU_LOG_LEVEL": "info",
        **overrides,
    }


@contextmanager
def redis_server() -> Iterator[str]:
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=open(LOGS / f"redis-{port}.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_redis(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(proc)


@contextmanager
def local_sfu(name: str, **env: str) -> Iterator[LocalSfu]:
    """Redis + the SFU with `env` on top of test defaults; its log is artifacts/logs/security/<name>.log."""
    LOGS.mkdir(parents=True, exist_ok=True)
    with redis_server() as redis_url:
        ws_port = free_port()
        log_path = LOGS / f"sfu-{name}.log"
        log_path.write_bytes(b"")
        proc = SfuProcess(sfu_env(ws_port, redis_url, **env), log_path=log_path)
        proc.start()
        try:
            assert proc.proc is not None
            http = f"http://127.0.0.1:{ws_port}"
            _wait_http(f"{http}/healthz", proc.proc, 60)
            yield LocalSfu(
                f"ws://127.0.0.1:{ws_port}/ws", http, redis_url, SECRET, proc, RedisHostActions(redis_url)
            )
        finally:
            proc.stop()


def sfu_exit(name: str, env: dict[str, str], timeout: float = 60) -> tuple[int | None, str]:
    """Starts the SFU with `env` and returns (its exit code, or None if it kept running; its log)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"sfu-{name}.log"
    log_path.write_bytes(b"")
    proc = SfuProcess(env, log_path=log_path).start()
    try:
        code: int | None = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        code = None
    stop_process(proc)
    return code, log_path.read_text(errors="replace")


# ----------------------------------------------------------------------------- the attacks

DEV_PLACEHOLDER = "dev-secret-change-me"


async def forge_with_dev_placeholder(target: SfuTarget) -> AttackResult:
    """A host token signed with the development placeholder secret (it is in the repository)."""
    name = "forge_token_with_dev_placeholder"
    room = target.room("forge")
    sig = await connect(target)
    try:
        token = issue_join_token(DEV_PLACEHOLDER, room, "mallory", "Mallory", "host", 600)
        code = await refusal(sig.request("join", {"room": room, "token": token}))
        return AttackResult(name, code == "UNAUTHORIZED", f"join answered {code or 'ok'}")
    finally:
        await sig.close()


async def produce_audio(sig: Signalling, ssrc: int = 0x5EC0) -> JsonObj:
    """A send transport (never connected: no ICE needed) and an Opus producer on it."""
    t = await sig.request("createWebRtcTransport", {"direction": "send"})
    params = {"transportId": t["id"], "kind": "audio", "rtpParameters": opus_rtp_parameters(ssrc)}
    return await sig.request("produce", params)


async def next_event(sig: Signalling, name: str, timeout: float = 10.0) -> JsonObj | None:
    """The data of the next `name` notification (others are dropped); None on timeout or close."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while (left := end - loop.time()) > 0:
        try:
            ev = await asyncio.wait_for(sig.events.get(), left)
        except TimeoutError:
            return None
        if ev.get("event") == name:
            data: JsonObj = ev.get("data") or {}
            return data
    return None


def _host(target: SfuTarget) -> HostActions:
    assert target.host is not None, "this attack needs host actions (close/remove/mute) on the target"
    return target.host


async def rejoin_closed_room(target: SfuTarget) -> AttackResult:
    """A host closes the room; a guest whose token is still valid joins it again (and would be
    transcribed into the closed meeting)."""
    name = "rejoin_closed_room"
    room = target.room("closed")
    token = await target.token(room, "mallory", "guest")  # held before the close, still valid after
    guest = await joined(target, room, "mallory", token=token)
    try:
        await _host(target).close(room)
        first = await close_code(guest)
        again = await connect(target)
        code = await refusal(again.request("join", {"room": room, "token": token}))
        closed_with = await close_code(again, 5)
        refused = code == "FORBIDDEN" and closed_with == 4410
        return AttackResult(
            name, refused, f"closed with {first}; rejoin answered {code or 'ok'}, socket {closed_with}"
        )
    finally:
        await close_all([guest])


async def rejoin_after_removal(target: SfuTarget) -> AttackResult:
    """A host removes a guest; the guest rejoins with the same token the moment its socket closes
    (before or after the gateway has written the removed list)."""
    name = "rejoin_after_removal"
    room = target.room("removed")
    keep = await joined(target, room, "alice")  # keeps the room open on the SFU
    token = await target.token(room, "mallory", "guest")  # held before the removal, still valid after
    guest = await joined(target, room, "mallory", token=token)
    try:
        await _host(target).remove(room, "mallory")
        first = await close_code(guest)
        codes = []
        for _ in range(2):
            again = await connect(target)
            codes.append(await refusal(again.request("join", {"room": room, "token": token})))
            await again.close()
            await asyncio.sleep(1.5)
        refused = first == 4403 and all(c == "FORBIDDEN" for c in codes)
        return AttackResult(name, refused, f"removed with {first}; rejoins answered {codes}")
    finally:
        await close_all([keep, guest])


async def resume_after_host_mute(target: SfuTarget) -> AttackResult:
    """A host mutes a guest; the guest's client calls `resumeProducer` and speaks again."""
    name = "resume_after_host_mute"
    room = target.room("mute")
    guest = await joined(target, room, "mallory")
    try:
        producer = (await produce_audio(guest))["producerId"]
        await _host(target).mute(room, "mallory")
        told = await next_event(guest, "mutedByHost")
        code = await refusal(guest.request("resumeProducer", {"producerId": producer}))
        refused = told is not None and code == "FORBIDDEN"
        return AttackResult(
            name,
            refused,
            f"mutedByHost {'sent' if told is not None else 'missing'}; resume answered {code or 'ok'}",
        )
    finally:
        await close_all([guest])


async def rejoin_after_host_mute(target: SfuTarget) -> AttackResult:
    """A muted guest leaves and joins again, and produces fresh audio (a new producer is not paused)."""
    name = "rejoin_after_host_mute"
    room = target.room("remute")
    keep = await joined(target, room, "alice")
    token = await target.token(room, "mallory", "guest")
    guest = await joined(target, room, "mallory", token=token)
    try:
        await produce_audio(guest)
        await _host(target).mute(room, "mallory")
        await next_event(guest, "mutedByHost")
        await guest.close()
        again = await joined(target, room, "mallory", token=token)
        try:
            produced = await produce_audio(again, 0x5EC1)
            code = await refusal(again.request("resumeProducer", {"producerId": produced["producerId"]}))
            refused = produced.get("paused") is True and code == "FORBIDDEN"
            return AttackResult(
                name, refused, f"new producer paused={produced.get('paused')}; resume answered {code or 'ok'}"
            )
        finally:
            await again.close()
    finally:
        await close_all([keep, guest])


async def overfill_room(target: SfuTarget, room: str, limit: int, extra: int = 3) -> AttackResult:
    """`limit + extra` guests (each a fresh participant id, as from a forwarded invite) join a room
    whose limit is `limit` (`max_participants`, or the SFU's default)."""
    name = "overfill_room"
    socks: list[Signalling] = []
    codes: list[int | None] = []
    try:
        for i in range(limit + extra):
            sig = await connect(target)
            socks.append(sig)
            token = await target.token(room, f"crowd-{i}", "guest")
            if await refusal(sig.request("join", {"room": room, "token": token})) is not None:
                codes.append(await close_code(sig, 5))
        refused = len(codes) == extra and all(c == 4429 for c in codes)
        return AttackResult(name, refused, f"{limit + extra - len(codes)} admitted, refused with {codes}")
    finally:
        await close_all(socks)


async def exhaust_rtc_ports(target: SfuTarget, guests: int = 25, per_guest: int = 4) -> AttackResult:
    """`guests` guests each open `per_guest` receive transports and never connect them (with a
    port per transport, 25 x 4 used up the stack's 100 published ports); then a new participant
    opens a new room and a transport, which must still work."""
    name = "exhaust_rtc_ports"
    room = target.room("ports")
    socks: list[Signalling] = []
    made = failed = 0
    try:
        for i in range(guests):
            sig = await joined(target, room, f"hog-{i}")
            socks.append(sig)
            for _ in range(per_guest):
                if await refusal(sig.request("createWebRtcTransport", {"direction": "recv"})) is None:
                    made += 1
                else:
                    failed += 1
        victim_room = target.room("ports-victim")
        try:
            victim = await joined(target, victim_room, "victim")
        except (SignallingError, websockets.ConnectionClosed) as err:
            return AttackResult(name, False, f"{made} idle transports made; a new room's join failed: {err}")
        socks.append(victim)
        code = await refusal(victim.request("createWebRtcTransport", {"direction": "send"}))
        detail = (
            f"{made} idle transports made, {failed} refused; the new room's transport answered {code or 'ok'}"
        )
        return AttackResult(name, code is None, detail)
    finally:
        await close_all(socks)


async def idle_transports_linger(target: SfuTarget, wait_s: float = 30.0) -> AttackResult:
    """A guest opens transports it never connects and keeps them; the SFU must close them
    (`transportClosed`) within `wait_s`, and count them no more."""
    name = "idle_transports_linger"
    sig = await joined(target, target.room("idle"), "idler")
    try:
        ids = {(await sig.request("createWebRtcTransport", {"direction": "recv"}))["id"] for _ in range(2)}
        loop = asyncio.get_running_loop()
        end = loop.time() + wait_s
        while ids and loop.time() < end:
            ev = await next_event(sig, "transportClosed", end - loop.time())
            if ev is None:
                break
            ids.discard(ev.get("transportId"))
        return AttackResult(
            name, not ids, f"{2 - len(ids)} of 2 idle transports closed within {wait_s:.0f} s"
        )
    finally:
        await sig.close()


async def open_socket(target: SfuTarget, **options: Any) -> Signalling | int:
    """A signalling socket, or the HTTP status it was refused with (e.g. 429)."""
    try:
        return await connect(target, **options)
    except websockets.InvalidStatus as err:
        return int(err.response.status_code)


async def unjoined_socket_flood(target: SfuTarget, sockets: int = 60, wait_s: float = 15.0) -> AttackResult:
    """Open many sockets and never join (no token needed for that): each holds server memory.
    Past the per-address cap they must be refused (429), and the open ones closed (4408) once the
    join timeout passes."""
    name = "unjoined_socket_flood"
    opened: list[Signalling] = []
    refused = 0
    try:
        for _ in range(sockets):
            got = await open_socket(target)
            if isinstance(got, int):
                refused += 1
            else:
                opened.append(got)
        codes = await asyncio.gather(*(close_code(s, wait_s) for s in opened))
        timed_out = sum(1 for c in codes if c == 4408)
        ok = refused > 0 and timed_out == len(opened)
        return AttackResult(
            name, ok, f"{len(opened)} accepted ({timed_out} closed with 4408), {refused} refused"
        )
    finally:
        await close_all(opened)


async def sockets_from_one_address(target: SfuTarget, sockets: int = 80, spoof: bool = False) -> AttackResult:
    """One address opens many joined sockets (each a fresh participant, as a forwarded invite
    allows): past the per-address cap the SFU must refuse them (429). With `spoof`, each socket
    claims another client address in `X-Forwarded-For`, which a direct client must not get believed."""
    name = "spoofed_forwarded_for" if spoof else "sockets_from_one_address"
    room = target.room("crowd")
    opened: list[Signalling] = []
    refused = 0
    try:
        for i in range(sockets):
            headers = {"X-Forwarded-For": f"198.51.{i // 250}.{i % 250 + 1}"} if spoof else {}
            got = await open_socket(target, additional_headers=headers)
            if isinstance(got, int):
                refused += 1
                continue
            opened.append(got)
            await got.request(
                "join", {"room": room, "token": await target.token(room, f"sock-{i}", "listener")}
            )
        return AttackResult(name, refused > 0, f"{len(opened)} accepted, {refused} refused")
    finally:
        await close_all(opened)


async def request_flood(target: SfuTarget, seconds: float = 5.0) -> AttackResult:
    """A joined guest sends cheap requests as fast as the SFU answers them (one at a time, so the
    queue cap never trips): the SFU must close the socket (1008) rather than serve it all."""
    name = "request_flood"
    sig = await joined(target, target.room("flood"), "flooder")
    answered = 0
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            if await refusal(sig.request("getRouterRtpCapabilities", timeout=5)) == "CLOSED":
                break
            answered += 1
        code = await close_code(sig, 2)
        return AttackResult(
            name, code == 1008, f"{answered} requests answered in {seconds:.0f} s; socket closed with {code}"
        )
    finally:
        await sig.close()


async def oversized_message(target: SfuTarget, kib: int = 100) -> AttackResult:
    """A joined guest sends a `kib` KiB message (oversized rtpCapabilities): the SFU must close the
    socket (1009) before parsing it."""
    name = "oversized_message"
    sig = await joined(target, target.room("big"), "bigmouth")
    try:
        caps = {"codecs": [{"mimeType": "audio/opus", "pad": "x" * 1024} for _ in range(kib)]}
        code = await refusal(sig.request("setRtpCapabilities", {"rtpCapabilities": caps}, timeout=5))
        closed = await close_code(sig, 5)
        return AttackResult(
            name, closed == 1009, f"request answered {code or 'ok'}; socket closed with {closed}"
        )
    finally:
        await sig.close()


async def producer_toggle_flood(target: SfuTarget, toggles: int = 200) -> AttackResult:
    """A guest pauses and resumes its audio in a loop: every toggle is an `sfu:events` entry the
    caption pipeline handles (and the stream is capped, so a flood pushes out other rooms' entries).
    Past a burst the SFU must answer RATE_LIMITED."""
    name = "producer_toggle_flood"
    sig = await joined(target, target.room("toggle"), "toggler")
    try:
        producer = (await produce_audio(sig))["producerId"]
        done = limited = 0
        for i in range(toggles):
            method = "pauseProducer" if i % 2 == 0 else "resumeProducer"
            code = await refusal(sig.request(method, {"producerId": producer}))
            if code == "RATE_LIMITED":
                limited += 1
            elif code is None:
                done += 1
            else:
                break
        return AttackResult(name, limited > 0, f"{done} toggles done, {limited} refused as RATE_LIMITED")
    finally:
        await sig.close()


def rtp_packet(ssrc: int, seq: int) -> bytes:
    """A 20 ms RTP packet (payload type 111, Opus in the SFU's codecs) with a dummy payload."""
    return (
        bytes([0x80, 111])
        + seq.to_bytes(2, "big")
        + (960 * seq).to_bytes(4, "big")
        + ssrc.to_bytes(4, "big")
        + b"\xab" * 40
    )


def udp_socket(host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    return sock


async def plain_ingest_as_guest(target: SfuTarget) -> AttackResult:
    """A guest asks for a plain RTP ingest (meant for the operator's bots and load tools): it
    would let the guest inject audio without WebRTC."""
    name = "plain_ingest_as_guest"
    sig = await joined(target, target.room("ingest"), "mallory")
    sock = udp_socket()
    try:
        ip, port = sock.getsockname()
        code = await refusal(sig.request("createPlainTransport", {"ip": ip, "port": port}))
        return AttackResult(name, code == "FORBIDDEN", f"createPlainTransport answered {code or 'ok'}")
    finally:
        sock.close()
        await sig.close()


async def hijack_plain_ingest(
    target: SfuTarget, forwarded: Callable[[], int], packets: int = 50
) -> AttackResult:
    """A bot (host token) opens a plain ingest; an attacker who can reach the port sends one RTP
    packet first. With comedia the transport locked onto the first sender: the bot's audio was
    dropped from then on. `forwarded()` counts the RTP packets the SFU sent on to the ingest."""
    name = "hijack_plain_ingest"
    bot = await joined(target, target.room("hijack"), "bot", "host")
    sender, attacker = udp_socket(), udp_socket()
    try:
        ip, port = sender.getsockname()
        ingest = await bot.request("createPlainTransport", {"ip": ip, "port": port})
        params = {"transportId": ingest["id"], "kind": "audio", "rtpParameters": opus_rtp_parameters(0xB07)}
        await bot.request("produce", params)
        dest = (ingest["ip"], ingest["port"])
        for seq in range(5):
            attacker.sendto(rtp_packet(0xBAD, seq), dest)
        await asyncio.sleep(0.2)
        before = forwarded()
        for seq in range(packets):
            sender.sendto(rtp_packet(0xB07, seq), dest)
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.5)
        got = forwarded() - before
        ok = got >= packets * 0.9 and before == 0
        return AttackResult(
            name, ok, f"the attacker's packets forwarded: {before}; the bot's: {got}/{packets}"
        )
    finally:
        sender.close()
        attacker.close()
        await bot.close()


async def consume_storm(target: SfuTarget, times: int = 50) -> AttackResult:
    """A guest consumes another participant's audio again and again: each consumer is one more
    copy of the stream for the worker to forward."""
    name = "consume_storm"
    room = target.room("consume")
    speaker = await joined(target, room, "speaker")
    sig, data = await join_with_data(target, room, "mallory")
    try:
        producer = (await produce_audio(speaker))["producerId"]
        await sig.request("setRtpCapabilities", {"rtpCapabilities": data["routerRtpCapabilities"]})
        recv = await sig.request("createWebRtcTransport", {"direction": "recv"})
        made = 0
        for _ in range(times):
            if (
                await refusal(sig.request("consume", {"transportId": recv["id"], "producerId": producer}))
                is None
            ):
                made += 1
        return AttackResult(name, made == 1, f"{made} consumers of one producer made out of {times} asked")
    finally:
        await close_all([sig, speaker])


async def many_audio_producers(target: SfuTarget, producers: int = 4) -> AttackResult:
    """A guest produces several audio streams at once: each is a separate speaker for the
    speech-to-text pipeline (the same voice transcribed four times, four times the GPU/CPU)."""
    name = "many_audio_producers"
    sig = await joined(target, target.room("multi"), "mallory")
    try:
        t = await sig.request("createWebRtcTransport", {"direction": "send"})
        made = 0
        for i in range(producers):
            params = {
                "transportId": t["id"],
                "kind": "audio",
                "rtpParameters": {
                    **opus_rtp_parameters(0x3000 + i),
                    "mid": str(i),
                },  # a MID each, as a browser
            }
            if await refusal(sig.request("produce", params)) is None:
                made += 1
        return AttackResult(name, made == 1, f"{made} of {producers} audio producers made")
    finally:
        await sig.close()


async def oversized_rtp_lists(target: SfuTarget) -> AttackResult:
    """Capabilities and parameters with hundreds of codecs / encodings, small enough to pass the
    message size cap: each must be refused with a clear BAD_REQUEST, not processed."""
    name = "oversized_rtp_lists"
    sig = await joined(target, target.room("lists"), "mallory")
    try:
        codec = {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2}
        caps = await refusal(
            sig.request("setRtpCapabilities", {"rtpCapabilities": {"codecs": [codec] * 500}})
        )
        t = await sig.request("createWebRtcTransport", {"direction": "send"})
        params = opus_rtp_parameters(0x4000)
        params["encodings"] = [{"ssrc": 0x4000 + i} for i in range(200)]
        produced = await refusal(
            sig.request("produce", {"transportId": t["id"], "kind": "audio", "rtpParameters": params})
        )
        ok = caps == "BAD_REQUEST" and produced == "BAD_REQUEST"
        return AttackResult(
            name, ok, f"500 codecs answered {caps or 'ok'}; 200 encodings answered {produced or 'ok'}"
        )
    finally:
        await sig.close()


async def data_channels(target: SfuTarget) -> AttackResult:
    """A guest asks for SCTP data channels (an unmetered side channel through the SFU)."""
    name = "data_channels"
    sig = await joined(target, target.room("sctp"), "mallory")
    try:
        t = await sig.request(
            "createWebRtcTransport",
            {"direction": "send", "enableSctp": True, "numStreams": {"OS": 1024, "MIS": 1024}},
        )
        codes = [
            await refusal(sig.request(m, {"transportId": t["id"]})) for m in ("produceData", "consumeData")
        ]
        ok = t.get("sctpParameters") is None and codes == ["BAD_REQUEST", "BAD_REQUEST"]
        return AttackResult(
            name, ok, f"sctpParameters {t.get('sctpParameters')}; produceData/consumeData answered {codes}"
        )
    finally:
        await sig.close()


# ----------------------------------------------------------------------------- TURN


class TurnProbe:
    """A bare TURN client (RFC 5766 over UDP, long-term credentials): what an attacker does with
    the TURN credentials a join hands out, without a browser in the way."""

    def __init__(self, server: tuple[str, int], username: str, password: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(3)
        self.sock.connect(server)
        self.username, self.password = username, password
        self.realm, self.nonce = "", b""

    def _ask(self, method: Any, **attrs: Any) -> Any:
        from aioice import stun
        from aioice.turn import make_integrity_key

        for _ in range(2):  # once more after a 401/438 with the realm and a fresh nonce
            msg = stun.Message(message_method=method, message_class=stun.Class.REQUEST)
            msg.attributes.update(attrs)
            if self.nonce:
                msg.attributes.update(USERNAME=self.username, REALM=self.realm, NONCE=self.nonce)
                msg.add_message_integrity(make_integrity_key(self.username, self.realm, self.password))
            self.sock.send(bytes(msg))
            answer = stun.parse_message(self.sock.recv(2048))
            code = answer.attributes.get("ERROR-CODE", (0, ""))[0]
            if code in (401, 438) and "NONCE" in answer.attributes:
                self.realm = answer.attributes.get("REALM", self.realm)
                self.nonce = answer.attributes["NONCE"]
                continue
            return answer
        return answer

    def allocate(self) -> int:
        """0 on success, else the TURN error code (486: allocation quota reached)."""
        from aioice import stun
        from aioice.turn import UDP_TRANSPORT

        answer = self._ask(stun.Method.ALLOCATE, **{"REQUESTED-TRANSPORT": UDP_TRANSPORT, "LIFETIME": 600})
        return int(answer.attributes.get("ERROR-CODE", (0, ""))[0])

    def permit(self, ip: str) -> int:
        """CreatePermission for `ip`: 0 if the relay would carry traffic there, 403 if refused."""
        from aioice import stun

        answer = self._ask(stun.Method.CREATE_PERMISSION, **{"XOR-PEER-ADDRESS": (ip, 9)})
        return int(answer.attributes.get("ERROR-CODE", (0, ""))[0])

    def close(self) -> None:
        self.sock.close()


# Where a relay must never go: cloud metadata, private and shared (carrier NAT) networks, "this"
# network; the caller adds the deployment's own node addresses.
INTERNAL_PEERS = ("169.254.169.254", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "0.0.0.1")


async def turn_relay_to_internal(target: SfuTarget, extra_peers: tuple[str, ...] = ()) -> AttackResult:
    """A guest takes the TURN credentials from its join and asks the TURN server to relay to
    internal addresses (cloud metadata, private networks, the nodes themselves)."""
    name = "turn_relay_to_internal"
    server, username, password = await guest_turn(target)
    probe = TurnProbe(server, username, password)
    try:
        if (code := await asyncio.to_thread(probe.allocate)) != 0:
            return AttackResult(name, True, f"no allocation at all ({code})")
        answers = {ip: await asyncio.to_thread(probe.permit, ip) for ip in INTERNAL_PEERS + extra_peers}
        allowed = [ip for ip, code in answers.items() if code != 403]
        return AttackResult(
            name,
            not allowed,
            f"permissions refused (403) for {len(answers) - len(allowed)}; allowed {allowed}",
        )
    finally:
        probe.close()


async def turn_allocation_flood(target: SfuTarget, allocations: int = 30) -> AttackResult:
    """A guest opens TURN allocation after allocation with its credentials (each holds a relay
    port): the TURN server must stop it at its per-user quota."""
    name = "turn_allocation_flood"
    server, username, password = await guest_turn(target)
    probes: list[TurnProbe] = []
    codes: list[int] = []
    try:
        for _ in range(allocations):
            probe = TurnProbe(server, username, password)
            probes.append(probe)
            codes.append(await asyncio.to_thread(probe.allocate))
        made = codes.count(0)
        return AttackResult(
            name, made < allocations and 486 in codes, f"{made} allocations made, then {set(codes) - {0}}"
        )
    finally:
        for p in probes:
            p.close()


async def guest_turn(target: SfuTarget) -> tuple[tuple[str, int], str, str]:
    """The UDP TURN server and the credentials a guest gets at join (docs/signalling.md, TURN)."""
    sig, data = await join_with_data(target, target.room("turn"), "mallory")
    await sig.close()
    for server in data.get("iceServers", []):
        for url in server["urls"]:
            if url.startswith("turn:") and "transport=tcp" not in url:
                host, _, port = url[5:].split("?")[0].rpartition(":")
                return (host, int(port)), server["username"], server["credential"]
    raise AssertionError(f"the join handed out no UDP TURN server: {data.get('iceServers')}")


async def spoofed_forwarded_for(target: SfuTarget) -> AttackResult:
    """`sockets_from_one_address`, each socket claiming another client in `X-Forwarded-For`."""
    return await sockets_from_one_address(target, spoof=True)


AttackFn = Callable[[SfuTarget], Awaitable[AttackResult]]

# What `make attack` runs against a deployment (tests/security/run_attacks.py): each needs only the
# target (rooms, tokens and host actions come from it). Not here: hijack_plain_ingest (needs to see
# what the SFU forwards), TURN_ATTACKS (need a deployment that hands out TURN servers) and
# forge_with_dev_placeholder (`make run` is development, where that secret is the one in use; run
# it against anything else).
ATTACKS: list[AttackFn] = [
    rejoin_closed_room,
    rejoin_after_removal,
    resume_after_host_mute,
    rejoin_after_host_mute,
    exhaust_rtc_ports,
    idle_transports_linger,
    unjoined_socket_flood,
    sockets_from_one_address,
    spoofed_forwarded_for,
    request_flood,
    oversized_message,
    producer_toggle_flood,
    plain_ingest_as_guest,
    consume_storm,
    many_audio_producers,
    oversized_rtp_lists,
    data_channels,
]
TURN_ATTACKS: list[AttackFn] = [turn_relay_to_internal, turn_allocation_flood]
