"""coturn as the stack runs it (stack/config/turnserver.conf, TURN REST shared secret), started on
loopback for a test, and what its log says about relayed traffic."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from parley_testkit.procs import stop_process

ROOT = Path(__file__).resolve().parents[2]
TURN_CONF = ROOT / "stack" / "config" / "turnserver.conf"
# One line per relay session when it ends (coturn -v): the traffic between the relay and peers.
PEER_USAGE = re.compile(
    r"peer usage: realm=<[^>]*>, username=<([^>]*)>, rp=(\d+), rb=(\d+), sp=(\d+), sb=(\d+)"
)


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
    log_dir: Path, port: int, relay_ports: tuple[int, int], secret: str, extra: Sequence[str] = ()
) -> Coturn:
    """The stack's turnserver.conf plus what loopback needs: listen and relay on 127.0.0.1, allow
    loopback peers (the conf denies 127.0.0.0/8, as production must), no TLS (the certificate is a
    Docker secret there). Run it inside a network namespace the test owns."""
    binary = shutil.which("turnserver")
    assert binary, "coturn is not installed (scripts/bootstrap.sh installs it)"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "coturn.log"
    proc = subprocess.Popen(
        [
            binary,
            "-c",
            str(TURN_CONF),
            "-v",  # session and usage lines
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={port}",
            f"--min-port={relay_ports[0]}",
            f"--max-port={relay_ports[1]}",
            "--allow-loopback-peers",
            "--allowed-peer-ip=127.0.0.1",
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
    while "Relay ports initialization done" not in turn.log() or not _udp_bound(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            turn.stop()
            raise RuntimeError(f"coturn did not start: {turn.log()[-2000:]}")
        time.sleep(0.1)
    return turn


def _udp_bound(port: int) -> bool:
    """True once something holds UDP 127.0.0.1:port (binding it ourselves fails then)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False
