"""The DNS server of a test node: answers every query NXDOMAIN at once, on 127.0.0.1:53.

Docker's embedded DNS forwards names it does not know (e.g. a dnsrr service with no healthy task
yet) to the node's resolvers; with none reachable, Docker 20.10 drops the query and the caller waits
~10 s per lookup (a Redis sentinel resolving a peer that is still starting stalls long enough to
fail its healthcheck). Real hosts have a resolver; these namespaces stand for air-gapped ones, so
each gets this one, on loopback (Docker dials loopback resolvers from the node itself, which works
for containers on internal networks too). Run inside the node's network namespace."""

import socket
import sys


def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1", 53))
    while True:
        query, peer = sock.recvfrom(4096)
        if len(query) < 12:
            continue
        # Header: same id; QR=1, opcode and RD copied, RA=1, RCODE=3 (NXDOMAIN); the question kept.
        flags = 0x8000 | (query[2] << 8 & 0x7900) | 0x0080 | 3
        answer = query[:2] + flags.to_bytes(2, "big") + query[4:6] + b"\0\0\0\0\0\0" + query[12:]
        sock.sendto(answer, peer)


if __name__ == "__main__":
    main()
