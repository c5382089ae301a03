"""Which local address the RTP socket binds to: never every interface (the RTP is plain, not SRTP).

`rtp_host` is an address (`127.0.0.1`, `10.0.9.3`), a host name, or a network in CIDR form
(`10.77.20.0/24`): then the ingest binds to its own address in that network, the way a container
on an overlay network with a fixed subnet finds its address there without knowing it in advance.
"""

from __future__ import annotations

import ipaddress
import socket


class BindError(ValueError):
    """The RTP address setting cannot be used."""


def resolve_bind_host(setting: str) -> str:
    """The local address to bind for `setting`; raises BindError for a wildcard or an address
    this host does not have in the named network."""
    value = setting.strip()
    if not value:
        raise BindError("the RTP address is empty; set an address, a host name or a CIDR network")
    if "/" in value:
        return _address_in(value)
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        try:
            addr = ipaddress.ip_address(socket.gethostbyname(value))
        except (OSError, ValueError) as exc:
            raise BindError(f"cannot resolve the RTP host {value!r}: {exc}") from exc
    if addr.is_unspecified:
        raise BindError(
            f"refusing to bind RTP to every interface ({value}); name the internal address or network"
        )
    return str(addr)


def _address_in(cidr: str) -> str:
    """Our address in `cidr`: the source address the kernel picks to reach that network (a UDP
    connect sends nothing)."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError as exc:
        raise BindError(f"bad RTP network {cidr!r}: {exc}") from exc
    if net.prefixlen == 0:
        raise BindError(f"refusing the RTP network {cidr}: it is every address")
    probe = net.network_address + 1 if net.num_addresses > 2 else net.network_address
    family = socket.AF_INET6 if net.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.connect((str(probe), 9))
        except OSError as exc:
            raise BindError(f"no route to the RTP network {cidr}: {exc}") from exc
        mine = ipaddress.ip_address(s.getsockname()[0])
    if mine not in net:
        raise BindError(f"this host has no address in the RTP network {cidr} (the route leaves from {mine})")
    return str(mine)
