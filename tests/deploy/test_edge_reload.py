"""The edge takes up the TURN certificate without dropping a connection.

The edge (HAProxy, stack/config/edge-entrypoint.sh) starts without the TURN-over-TLS route when
Caddy has no certificate for the TURN name yet (its first ACME order), and adds the route once the
certificate appears. It used to restart HAProxy for that: every open connection through the edge
(the meetings' signalling and caption sockets, relayed calls) was cut, and connections were refused
until the new HAProxy listened (swarm-check: a page load failed with ERR_CONNECTION_REFUSED when the
certificate appeared as the meeting began). Now it is a reload. Here, in a loopback-only network
namespace, with the real entrypoint and HAProxy, a stand-in TURN server that echoes: a connection
opened before the certificate still echoes after the route is on, and none of the connections
opened every 20 ms meanwhile is refused or cut. And the stack's healthcheck of the edge tells a
serving HAProxy from a hung one."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from parley_testkit.procs import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "media"))
from media_helpers import loopback_netns  # noqa: E402
from media_helpers import skip_reason as netns_skip_reason  # noqa: E402
from turn_helpers import start_edge  # noqa: E402

LOGS = ROOT / "artifacts" / "logs" / "edge-reload"
TURN_HOST = "turn.meet.parley.test"
STUN = b"\x00\x01" + bytes(18)  # what the edge sends to the TURN server unencrypted (first byte 0)


def skip_reason() -> str | None:
    for tool in ("/usr/sbin/haproxy", "/usr/bin/openssl", "/usr/bin/wget"):
        if not Path(tool).exists():
            return f"{tool} is not installed (scripts/bootstrap.sh installs it)"
    return netns_skip_reason()


pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


class Echo(threading.Thread):
    """The TURN server's stand-in: echoes each connection (the edge's PROXY header, then the data)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def run(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.echo, args=(conn,), daemon=True).start()

    @staticmethod
    def echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)


def echoes(sock: socket.socket, payload: bytes) -> bool:
    """Whether `payload`, sent on `sock`, comes back (after the PROXY header, on a new connection)."""
    sock.sendall(payload)
    got = b""
    while not got.endswith(payload):
        chunk = sock.recv(4096)
        if not chunk:
            return False
        got += chunk
    return True


def through_edge(payload: bytes) -> str:
    """One connection through the edge: "ok", or how it failed."""
    try:
        with socket.create_connection(("127.0.0.1", 443), timeout=3) as sock:
            return "ok" if echoes(sock, payload) else "closed"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return type(exc).__name__


def turn_tls_is_on() -> bool:
    """A TLS hello for the TURN name is answered by the edge with the TURN certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", 443), timeout=2) as raw:
            with ctx.wrap_socket(raw, server_hostname=TURN_HOST) as tls:
                return echoes(tls, b"inside TLS")
    except OSError:
        return False


def issue_certificate(data: Path) -> None:
    """A certificate for the TURN name where Caddy keeps the ones it obtains."""
    where = data / "caddy" / "certificates" / "local" / TURN_HOST
    where.mkdir(parents=True)
    key, crt = where / f"{TURN_HOST}.key", where / f"{TURN_HOST}.crt"
    self_signed = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [*self_signed, "-subj", f"/CN={TURN_HOST}", "-keyout", str(key), "-out", str(crt)],
        check=True,
        capture_output=True,
    )


def test_the_first_turn_certificate_is_taken_up_without_dropping_a_connection(tmp_path: Path) -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    with loopback_netns():
        echo = Echo()
        echo.start()
        edge = start_edge(
            tmp_path,
            TURN_HOST,
            "127.0.0.1",
            f"127.0.0.1:{free_port()}",  # no Caddy: only the TURN routes are used here
            f"127.0.0.1:{echo.port}",
            check_s=1,
            with_certificate=False,
        )
        try:
            opened_before = socket.create_connection(("127.0.0.1", 443), timeout=3)
            assert echoes(opened_before, STUN + b"before")
            assert not turn_tls_is_on()

            outcomes: list[str] = []
            done = threading.Event()

            def keep_connecting() -> None:
                while not done.is_set():
                    outcomes.append(through_edge(STUN + b"meanwhile"))
                    time.sleep(0.02)

            prober = threading.Thread(target=keep_connecting, daemon=True)
            prober.start()
            issue_certificate(tmp_path / "data")
            deadline = time.monotonic() + 15
            while not turn_tls_is_on():
                assert time.monotonic() < deadline, (tmp_path / "edge.log").read_text()[-2000:]
                time.sleep(0.2)
            time.sleep(1.0)  # a few more connections after the switch
            done.set()
            prober.join()

            failed = [o for o in outcomes if o != "ok"]
            assert not failed, f"{len(failed)} of {len(outcomes)} connections failed: {set(failed)}"
            assert echoes(opened_before, STUN + b"after"), "the connection opened before was cut"
            opened_before.close()
        finally:
            (LOGS / "edge.log").write_bytes((tmp_path / "edge.log").read_bytes())
            stop_process(edge)


def stack_healthcheck() -> list[str]:
    """The edge's healthcheck command, as stack/docker-stack.yml gives it to Docker."""
    stack = yaml.safe_load((ROOT / "stack" / "docker-stack.yml").read_text())
    test = stack["services"]["edge"]["healthcheck"]["test"]
    assert test[0] == "CMD", test
    return list(test[1:])


def healthy(check: list[str]) -> bool:
    """The check's verdict within Docker's healthcheck timeout (the stack's: 5 s)."""
    try:
        return subprocess.run(check, capture_output=True, timeout=5).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def test_the_healthcheck_fails_when_the_edge_no_longer_serves(tmp_path: Path) -> None:
    """The healthcheck used to be `haproxy -c` on the configuration file: it passed whatever HAProxy
    did. Now it asks HAProxy's monitor URI: it passes while a worker serves, fails while the worker
    hangs (stopped here with SIGSTOP) and when nothing runs."""
    LOGS.mkdir(parents=True, exist_ok=True)
    check = stack_healthcheck()
    with loopback_netns():
        assert not healthy(check)  # nothing runs yet
        edge = start_edge(
            tmp_path,
            TURN_HOST,
            "127.0.0.1",
            f"127.0.0.1:{free_port()}",
            f"127.0.0.1:{free_port()}",
            with_certificate=False,
        )
        try:
            assert healthy(check)
            # The entrypoint's child is HAProxy's master; the master's child, its worker.
            master = subprocess.run(["pgrep", "-P", str(edge.pid), "haproxy"], capture_output=True, text=True)
            worker = subprocess.run(
                ["pgrep", "-P", master.stdout.split()[0], "haproxy"], capture_output=True, text=True
            )
            pid = int(worker.stdout.split()[0])
            os.kill(pid, signal.SIGSTOP)
            try:
                assert not healthy(check)
            finally:
                os.kill(pid, signal.SIGCONT)
            assert healthy(check)
        finally:
            (LOGS / "edge-health.log").write_bytes((tmp_path / "edge.log").read_bytes())
            stop_process(edge)
