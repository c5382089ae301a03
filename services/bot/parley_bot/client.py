"""The SFU's signalling (docs/signalling.md) and a pymediasoup Device over aiortc."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import websockets

JsonObj = dict[str, Any]


@contextmanager
def loopback_only_ice() -> Iterator[None]:
    """While inside, aioice gathers only 127.0.0.1 (tests in a loopback-only network namespace).
    Undone on leaving: left in place, a later bot in the same process (a test in another
    namespace) offered only 127.0.0.1 and never connected."""
    import aioice.ice

    gather = aioice.ice.get_host_addresses
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    try:
        yield
    finally:
        aioice.ice.get_host_addresses = gather


class SignallingError(RuntimeError):
    """A refused request (`code` as docs/signalling.md lists them) or a closed socket (`code` "CLOSED")."""

    def __init__(self, message: str, code: str = "CLOSED") -> None:
        super().__init__(message)
        self.code = code


class Signalling:
    """JSON request/response over the SFU WebSocket; notifications go to `events`."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self._next = 1
        self._pending: dict[int, asyncio.Future[JsonObj]] = {}
        self.events: asyncio.Queue[JsonObj] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, **options: Any) -> Signalling:
        """`options` go to websockets.connect (e.g. `additional_headers`, `local_addr`)."""
        return cls(await websockets.connect(url, max_size=256 * 1024, **options))

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                fut = self._pending.pop(msg.get("id"), None) if "id" in msg else None
                if fut is not None and not fut.done():
                    fut.set_result(msg)
                elif "event" in msg:
                    self.events.put_nowait(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(SignallingError("signalling socket closed"))

    async def request(self, method: str, data: JsonObj | None = None, timeout: float = 15.0) -> JsonObj:
        rid = self._next
        self._next += 1
        fut: asyncio.Future[JsonObj] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        await self.ws.send(json.dumps({"id": rid, "method": method, "data": data or {}}))
        res = await asyncio.wait_for(fut, timeout)
        if not res.get("ok"):
            err = res.get("error") or {}
            code = str(err.get("code"))
            raise SignallingError(f"{method}: {code}: {err.get('message')}", code)
        data_out: JsonObj = res.get("data") or {}
        return data_out

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


async def join(sig: Signalling, room: str, token: str) -> tuple[JsonObj, Any]:
    """`join` + a loaded Device whose capabilities the SFU knows; returns (join data, device)."""
    from pymediasoup import AiortcHandler, Device
    from pymediasoup.rtp_parameters import RtpCapabilities

    joined = await sig.request("join", {"room": room, "token": token})
    device = Device(handlerFactory=AiortcHandler.createFactory(tracks=[]))
    await device.load(RtpCapabilities(**joined["routerRtpCapabilities"]))
    caps = device.rtpCapabilities.model_dump(exclude_none=True)
    await sig.request("setRtpCapabilities", {"rtpCapabilities": caps})
    return joined, device


async def transport(sig: Signalling, device: Any, direction: str) -> Any:
    """A send or recv WebRtcTransport, connected through signalling when aiortc needs it."""
    from pymediasoup.models.transport import DtlsParameters
    from pymediasoup.rtp_parameters import RtpParameters

    t = await sig.request("createWebRtcTransport", {"direction": direction})
    create = device.createSendTransport if direction == "send" else device.createRecvTransport
    tr = create(
        id=t["id"],
        iceParameters=t["iceParameters"],
        iceCandidates=t["iceCandidates"],
        dtlsParameters=t["dtlsParameters"],
        sctpParameters=None,
        iceServers=[],  # the SFU is ICE-lite with public candidates: no STUN server to ask
    )

    @tr.on("connect")  # type: ignore[untyped-decorator]
    async def on_connect(dtlsParameters: DtlsParameters) -> None:
        await sig.request(
            "connectWebRtcTransport",
            {"transportId": t["id"], "dtlsParameters": dtlsParameters.model_dump(exclude_none=True)},
        )

    if direction == "send":

        @tr.on("produce")  # type: ignore[untyped-decorator]
        async def on_produce(kind: str, rtpParameters: RtpParameters, appData: JsonObj) -> str:
            res = await sig.request(
                "produce",
                {
                    "transportId": t["id"],
                    "kind": kind,
                    "rtpParameters": rtpParameters.model_dump(exclude_none=True),
                },
            )
            return str(res["producerId"])

    return tr
