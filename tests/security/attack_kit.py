"""What every attack needs: a deployment to aim at, an attacker's HTTP and WebSocket clients, and
one result shape. Used by the tests in tests/security/ (against services they start) and by
`make attack` (tests/security/run_attacks.py, against `make run`'s deployment).

An attack is `async def fn(dep: Deployment) -> Outcome`, registered with `@attack("what the
attacker tries")` in a module listed in run_attacks.py's ATTACK_MODULES; `refused` is True when
the deployment withstood it. The attacker reaches the deployment only the way an outsider can
(the HTTP API, the caption socket, the SFU's signalling socket, an invite link); the operator's
side (admin login, Redis) is used only to set a room up and to check what the attack did.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import redis.asyncio as aioredis
import websockets


@dataclass
class Outcome:
    attack: str
    refused: bool
    detail: str
    figures: dict[str, float] = field(default_factory=dict)


AttackFn = Callable[["Deployment"], Awaitable[Outcome]]
ATTACKS: dict[str, AttackFn] = {}
# attack -> what its deployment needs: "replica" = a gateway the runner started itself (it trusts
# PROXY_IP as its reverse proxy, and its log file is readable)
ATTACK_SETUP: dict[str, str] = {}


def attack(
    name: str, setup: str = ""
) -> Callable[[Callable[[Deployment], Awaitable[tuple[bool, str]]]], AttackFn]:
    """Register an attack; the function answers (refused, what happened)."""

    def wrap(fn: Callable[[Deployment], Awaitable[tuple[bool, str]]]) -> AttackFn:
        async def run(dep: Deployment) -> Outcome:
            refused, detail = await fn(dep)
            return Outcome(name, refused, detail)

        run.__name__ = fn.__name__
        run.__doc__ = fn.__doc__
        ATTACKS[name] = run
        if setup:
            ATTACK_SETUP[name] = setup
        return run

    return wrap


@dataclass
class Deployment:
    """A running Parley: the gateway's base URL, the SFU's signalling URL, Redis (to observe), the
    admin's login, and the loopback address the attacker's connections come from (127.0.0.0/8:
    the attacker is another client than the meeting that is being protected)."""

    http: str
    sfu_ws: str
    redis_url: str
    admin_user: str
    admin_password: str
    attacker_ip: str = "127.0.0.66"
    join_token_secret: str = ""  # what the SFU holds too (for the compromised-node attacks)
    rooms_made: list[str] = field(default_factory=list)
    log_path: Path | None = None  # the gateway's log, where the operator can read it
    _admin_token: str = ""

    def other_ip(self, k: int) -> str:
        """Another loopback address of the attacker's (a second attacker, a second client)."""
        head, last = self.attacker_ip.rsplit(".", 1)
        return f"{head}.{(int(last) + k) % 250 + 1}"

    def unique(self, name: str) -> str:
        """A name no earlier run against this deployment used."""
        return f"{name}-{int(time.time() * 1000) % 10**9}"

    # ---------------------------------------------------------------- operator side (setup, checks)
    def redis(self) -> aioredis.Redis:
        return aioredis.from_url(self.redis_url)

    async def admin_token(self) -> str:
        if not self._admin_token:
            resp = await self.call(
                "POST",
                "/api/v1/auth/login",
                json={"username": self.admin_user, "password": self.admin_password},
                as_attacker=False,
            )
            resp.raise_for_status()
            self._admin_token = resp.json()["access_token"]
        return self._admin_token

    async def admin(self, method: str, path: str, **body: Any) -> httpx.Response:
        token = await self.admin_token()
        return await self.call(
            method, path, json=body if method != "GET" else None, token=token, as_attacker=False
        )

    async def new_room(self, prefix: str, **settings: Any) -> str:
        slug = self.unique(prefix)
        resp = await self.admin("POST", "/api/v1/rooms", name=prefix, slug=slug, **settings)
        resp.raise_for_status()
        self.rooms_made.append(slug)
        return slug

    async def invite(self, slug: str, **body: Any) -> str:
        resp = await self.admin("POST", f"/api/v1/rooms/{slug}/invites", **body)
        resp.raise_for_status()
        return str(resp.json()["code"])

    async def token(self, slug: str, name: str, role: str = "guest", **body: Any) -> dict[str, Any]:
        resp = await self.admin("POST", f"/api/v1/rooms/{slug}/tokens", name=name, role=role, **body)
        resp.raise_for_status()
        out: dict[str, Any] = resp.json()
        return out

    async def gateway_process(self) -> tuple[float, float]:
        """The gateway process's (CPU seconds, resident MB) from its /metrics."""
        text = (await self.call("GET", "/metrics", as_attacker=False)).text
        values = {
            line.split()[0]: float(line.split()[1])
            for line in text.splitlines()
            if line.startswith(("process_cpu_seconds_total ", "process_resident_memory_bytes "))
        }
        return values["process_cpu_seconds_total"], values["process_resident_memory_bytes"] / 2**20

    # ---------------------------------------------------------------- attacker side
    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: str = "",
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        as_attacker: bool = True,
        source: str | None = None,
    ) -> httpx.Response:
        """A request from the attacker's address (`as_attacker`), the operator's, or `source`."""
        hdrs = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        local = source or (self.attacker_ip if as_attacker else None)
        transport = httpx.AsyncHTTPTransport(local_address=local)
        async with httpx.AsyncClient(base_url=self.http, transport=transport, timeout=30) as client:
            return await client.request(method, path, json=json, headers=hdrs, content=content)

    async def join_invite(self, code: str, name: str = "Mallory") -> httpx.Response:
        return await self.call("POST", f"/api/v1/invites/{code}/join", json={"name": name})

    def caption_url(self, room: str, token: str, lang: str = "source", since: str = "") -> str:
        base = self.http.replace("http", "ws", 1)
        url = f"{base}/ws/rooms/{room}/captions?lang={quote(lang)}&token={quote(token)}"
        return url + (f"&since={quote(since)}" if since else "")

    async def captions(
        self, room: str, token: str, lang: str = "source", since: str = "", *, as_attacker: bool = True
    ) -> CaptionSocket:
        local = {"local_addr": (self.attacker_ip, 0)} if as_attacker else {}
        ws = await websockets.connect(
            self.caption_url(room, token, lang, since), max_size=2**22, open_timeout=10, **local
        )
        return CaptionSocket(ws)


class CaptionSocket:
    """A raw caption WebSocket: what it was sent, and how it ended."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    async def send(self, msg: Any) -> None:
        await self.ws.send(msg if isinstance(msg, str) else json.dumps(msg))

    async def next(self, timeout: float = 5.0) -> dict[str, Any] | None:
        """The next message, or None when the socket closed (or nothing came in time)."""
        try:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
        except (TimeoutError, websockets.ConnectionClosed):
            return None
        out: dict[str, Any] = json.loads(raw)
        return out

    async def until(self, kind: str, timeout: float = 5.0) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            msg = await self.next(left)
            if msg is None:
                return None
            if msg.get("type") == kind:
                return msg
        return None

    async def closed(self, timeout: float = 5.0) -> int | None:
        """The close code once the server ends the socket within `timeout`; None while it stays open."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(self.ws.recv(), left)
            except websockets.ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else 1006
            except TimeoutError:
                return None
        return None

    async def close(self) -> None:
        await self.ws.close()

    async def __aenter__(self) -> CaptionSocket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
