"""The client's address, for rate limits and per-address caps.

Behind a reverse proxy (Caddy in the stack) every connection comes from the proxy: its
`X-Forwarded-For` names the client. The header is believed only when the connection comes from
an address in PARLEY_GATEWAY_TRUSTED_PROXIES (CIDRs; empty: none), and then read from the right:
the first address that is not itself a trusted proxy is the client (anything to its left was
written by the client and proves nothing). uvicorn's own proxy-header handling is off
(__main__.py), so this is the one place that decides.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def parse_networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


def client_address(conn: HTTPConnection) -> str:
    peer = conn.client.host if conn.client else "unknown"
    networks = parse_networks(tuple(conn.app.state.settings.trusted_proxies))
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in ",".join(conn.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage where an address should be: count it against the proxy
    return peer
