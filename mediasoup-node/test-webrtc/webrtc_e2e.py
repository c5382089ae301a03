"""WebRTC end to end through the Parley SFU, on loopback only.

A real client (aiortc via pymediasoup) joins a room over the signalling WebSocket, completes
ICE + DTLS-SRTP with a WebRtcTransport and sends a 440 Hz Opus tone; the SFU forwards it over
its PlainTransport to a UDP socket standing in for the gateway, and a second participant
(role listener) consumes it over its own WebRTC transport. Checks: RTP arrives with the
SSRC and payload type announced in `sfu:events` and decodes back to ~440 Hz, and the
listener hears ~440 Hz too.

Run inside a network namespace with only `lo` (see mediasoup-node/scripts/webrtc-e2e.sh):
aiortc/aioice otherwise use the machine's own address, and must never ask a public STUN server.
Env: MEDIASOUP_WORKER_BIN, SFU_DIR (mediasoup-node, built), NODE (Node >= 22), REDIS_URL.
"""

import array
import asyncio
import base64
import fractions
import hashlib
import hmac
import json
import math
import os
import socket
import subprocess
import sys
import time

import aioice.ice

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # loopback only

import av  # noqa: E402
import redis  # noqa: E402
import websockets  # noqa: E402
from aiortc import RTCConfiguration  # noqa: E402, F401
from aiortc.mediastreams import AudioStreamTrack  # noqa: E402
from pymediasoup import Device, AiortcHandler  # noqa: E402
from pymediasoup.rtp_parameters import RtpCapabilities, RtpParameters  # noqa: E402
from pymediasoup.models.transport import DtlsParameters  # noqa: E402

SECRET = "webrtc-e2e-secret-0123456789abcdefghij"
TONE_HZ = 440.0
SEND_S = 5.0


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def join_token(room: str, sub: str, name: str, role: str = "host") -> str:
    now = int(time.time())
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"room": room, "sub": sub, "name": name, "role": role,
                                 "iat": now, "exp": now + 600}).encode())
    sig = hmac.new(SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(sig)}"


class Tone(AudioStreamTrack):
    """20 ms frames of a 440 Hz sine, 48 kHz mono s16."""

    def __init__(self):
        super().__init__()
        self._n = 0

    async def recv(self):
        samples = 960
        if self._n:
            await asyncio.sleep(0.02)
        frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
        pcm = bytearray()
        for i in range(samples):
            v = int(8000 * math.sin(2 * math.pi * TONE_HZ * (self._n + i) / 48000))
            pcm += v.to_bytes(2, "little", signed=True)
        frame.planes[0].update(bytes(pcm))
        frame.sample_rate = 48000
        frame.pts = self._n
        frame.time_base = fractions.Fraction(1, 48000)
        self._n += samples
        return frame


class Signalling:
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 1
        self.pending = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self):
        async for raw in self.ws:
            msg = json.loads(raw)
            if "id" in msg and msg["id"] in self.pending:
                self.pending.pop(msg["id"]).set_result(msg)

    async def request(self, method, data=None):
        rid = self.next_id
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        await self.ws.send(json.dumps({"id": rid, "method": method, "data": data or {}}))
        res = await asyncio.wait_for(fut, 10)
        if not res["ok"]:
            raise RuntimeError(f"{method} failed: {res['error']}")
        return res["data"]


def rtp_payload(p: bytes) -> bytes:
    cc = p[0] & 0x0F
    off = 12 + 4 * cc
    if p[0] & 0x10:
        off += 4 + 4 * int.from_bytes(p[off + 2:off + 4], "big")
    end = len(p) - (p[-1] if p[0] & 0x20 else 0)
    return p[off:end]


def dominant_hz(pcm: list, rate: int) -> float:
    crossings = sum(1 for a, b in zip(pcm, pcm[1:]) if a < 0 <= b)
    return crossings / (len(pcm) / rate)


async def listen(ws_url: str, producer_id: str, seconds: float) -> array.array:
    """A second participant (role listener) consumes the producer over WebRTC; returns its PCM."""
    ws = await websockets.connect(ws_url)
    sig = Signalling(ws)
    joined = await sig.request("join", {"room": "e2e", "token": join_token("e2e", "listener-1", "Listener", "listener")})
    device = Device(handlerFactory=AiortcHandler.createFactory(tracks=[]))
    await device.load(RtpCapabilities(**joined["routerRtpCapabilities"]))
    await sig.request("setRtpCapabilities", {"rtpCapabilities": device.rtpCapabilities.model_dump(exclude_none=True)})
    t = await sig.request("createWebRtcTransport", {"direction": "recv"})
    transport = device.createRecvTransport(id=t["id"], iceParameters=t["iceParameters"],
                                           iceCandidates=t["iceCandidates"],
                                           dtlsParameters=t["dtlsParameters"], sctpParameters=None)

    @transport.on("connect")
    async def on_connect(dtlsParameters: DtlsParameters):
        await sig.request("connectWebRtcTransport", {"transportId": t["id"],
                                                     "dtlsParameters": dtlsParameters.model_dump(exclude_none=True)})

    c = await sig.request("consume", {"transportId": t["id"], "producerId": producer_id})
    consumer = await transport.consume(id=c["consumerId"], producerId=c["producerId"], kind=c["kind"],
                                       rtpParameters=RtpParameters(**c["rtpParameters"]))
    await sig.request("resumeConsumer", {"consumerId": c["consumerId"]})
    to_mono = av.AudioResampler(format="s16", layout="mono", rate=48000)
    pcm = array.array("h")
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        try:
            frame = await asyncio.wait_for(consumer.track.recv(), 0.5)
        except asyncio.TimeoutError:
            continue
        for mono in to_mono.resample(frame):
            pcm.frombytes(bytes(mono.planes[0])[: mono.samples * 2])
    await ws.close()
    return pcm


async def main() -> int:
    gw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    gw.bind(("127.0.0.1", 0))
    gw.setblocking(False)
    gw_port = gw.getsockname()[1]
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    ws_port = probe.getsockname()[1]
    probe.close()

    env = dict(os.environ, SFU_WS_PORT=str(ws_port), GATEWAY_RTP_PORT=str(gw_port),
               JOIN_TOKEN_SECRET=SECRET, SFU_NUM_WORKERS="1", SFU_LISTEN_IP="127.0.0.1",
               SFU_RTC_MIN_PORT="42000", SFU_RTC_MAX_PORT="42999", SFU_WEBRTC_PORT="0", SFU_LOG_LEVEL="warn")
    sfu = subprocess.Popen([os.environ.get("NODE", "node"), "dist/src/main.js"],
                           cwd=os.environ["SFU_DIR"], env=env)
    r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    since = f"{int(time.time() * 1000) - 1}-0"
    try:
        for _ in range(100):
            try:
                ws = await websockets.connect(f"ws://127.0.0.1:{ws_port}/ws")
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            raise RuntimeError("SFU did not start")
        sig = Signalling(ws)
        joined = await sig.request("join", {"room": "e2e", "token": join_token("e2e", "bot-1", "Tone Bot")})

        device = Device(handlerFactory=AiortcHandler.createFactory(tracks=[]))
        await device.load(RtpCapabilities(**joined["routerRtpCapabilities"]))
        await sig.request("setRtpCapabilities", {"rtpCapabilities": device.rtpCapabilities.model_dump(exclude_none=True)})
        t = await sig.request("createWebRtcTransport", {"direction": "send"})
        transport = device.createSendTransport(id=t["id"], iceParameters=t["iceParameters"],
                                               iceCandidates=t["iceCandidates"],
                                               dtlsParameters=t["dtlsParameters"], sctpParameters=None)

        @transport.on("connect")
        async def on_connect(dtlsParameters: DtlsParameters):
            await sig.request("connectWebRtcTransport", {"transportId": t["id"],
                                                         "dtlsParameters": dtlsParameters.model_dump(exclude_none=True)})

        @transport.on("produce")
        async def on_produce(kind: str, rtpParameters: RtpParameters, appData: dict):
            res = await sig.request("produce", {"transportId": t["id"], "kind": kind,
                                                "rtpParameters": rtpParameters.model_dump(exclude_none=True)})
            return res["producerId"]

        producer = await transport.produce(track=Tone(), stopTracks=False)
        listener = asyncio.create_task(listen(f"ws://127.0.0.1:{ws_port}/ws", producer.id, SEND_S - 1.5))
        packets = []
        loop = asyncio.get_running_loop()
        end = loop.time() + SEND_S
        while loop.time() < end:
            try:
                packets.append(await asyncio.wait_for(loop.sock_recv(gw, 2048), 0.2))
            except asyncio.TimeoutError:
                pass

        events = [{k.decode(): v.decode() for k, v in f.items()}
                  for _, f in r.xrange("sfu:events", f"({since}", "+")]
        opened = [e for e in events if e["type"] == "producer.open" and e["producer"] == producer.id]
        if not opened:
            raise RuntimeError(f"no producer.open for {producer.id} in sfu:events: {events}")
        ssrc, pt = int(opened[0]["ssrc"]), int(opened[0]["pt"])
        rtp = [p for p in packets if len(p) >= 12 and not 200 <= p[1] <= 204]
        mine = [p for p in rtp if int.from_bytes(p[8:12], "big") == ssrc and (p[1] & 0x7F) == pt]
        decoder = av.CodecContext.create("opus", "r")
        to_mono = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pcm = array.array("h")
        for p in mine:
            for frame in decoder.decode(av.Packet(rtp_payload(p))):
                for mono in to_mono.resample(frame):
                    pcm.frombytes(bytes(mono.planes[0])[: mono.samples * 2])
        hz = dominant_hz(pcm[48000 // 2:], 48000) if len(pcm) > 48000 else 0.0
        print(f"webrtc-e2e: gateway got {len(mine)}/{len(rtp)} RTP packets with the announced ssrc={ssrc} pt={pt}; "
              f"decoded {len(pcm) / 48000:.2f} s, dominant {hz:.1f} Hz")
        heard = await listener
        heard_hz = dominant_hz(heard[48000 // 2:], 48000) if len(heard) > 48000 else 0.0
        print(f"webrtc-e2e: listener consumed over WebRTC {len(heard) / 48000:.2f} s, dominant {heard_hz:.1f} Hz")
        await ws.close()
        # 20 ms packets; at least half of them (ICE + DTLS take ~0.5 s; a loaded 2-core machine
        # slows aiortc's encoder): this checks the path and the SSRC mapping, not throughput.
        ok = (len(mine) >= 0.5 * SEND_S / 0.02 and len(mine) == len(rtp) and abs(hz - TONE_HZ) < 5
              and abs(heard_hz - TONE_HZ) < 5)
        print("webrtc-e2e: PASS" if ok else "webrtc-e2e: FAIL")
        return 0 if ok else 1
    finally:
        sfu.terminate()
        try:
            sfu.wait(5)
        except subprocess.TimeoutExpired:
            sfu.kill()
        r.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
