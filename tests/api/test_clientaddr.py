"""Which address a request is counted against: X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from parley_gateway.clientaddr import client_address
from starlette.requests import HTTPConnection


def conn(peer: str, xff: list[str], trusted: list[str]) -> HTTPConnection:
    app = SimpleNamespace(state=SimpleNamespace(settings=SimpleNamespace(trusted_proxies=trusted)))
    scope = {
        "type": "http",
        "client": (peer, 50000),
        "headers": [(b"x-forwarded-for", h.encode()) for h in xff],
        "app": app,
    }
    return HTTPConnection(scope)


@pytest.mark.parametrize(
    ("peer", "xff", "trusted", "expected"),
    [
        ("203.0.113.9", ["1.2.3.4"], [], "203.0.113.9"),  # no proxy trusted: the header is ignored
        ("203.0.113.9", ["1.2.3.4"], ["10.0.0.0/8"], "203.0.113.9"),  # forged by a client
        ("10.0.1.5", ["198.51.100.7"], ["10.0.0.0/8"], "198.51.100.7"),  # through the proxy
        ("10.0.1.5", ["6.6.6.6, 198.51.100.7"], ["10.0.0.0/8"], "198.51.100.7"),  # client's own hop ignored
        ("10.0.1.5", ["198.51.100.7", "10.0.2.9"], ["10.0.0.0/8"], "198.51.100.7"),  # two proxies
        ("10.0.1.5", ["not-an-address"], ["10.0.0.0/8"], "10.0.1.5"),  # garbage: the proxy is counted
        ("10.0.1.5", [], ["10.0.0.0/8"], "10.0.1.5"),
        ("fd00::5", ["2001:db8::1"], ["fd00::/8"], "2001:db8::1"),
    ],
)
def test_client_address(peer: str, xff: list[str], trusted: list[str], expected: str) -> None:
    assert client_address(conn(peer, xff, trusted)) == expected
