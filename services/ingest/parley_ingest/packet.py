"""RTP (RFC 3550) parsing: only what the receiver needs, every length checked."""

from __future__ import annotations

from dataclasses import dataclass

MAX_DATAGRAM = 1500  # one Ethernet MTU: the SFU never sends more for a 20 ms Opus frame
RTP_HEADER = 12


class RtpError(ValueError):
    """A datagram that is not an acceptable RTP packet; `reason` labels the drop counter."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RtpPacket:
    pt: int
    seq: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes


def is_rtcp(data: bytes) -> bool:
    """RTCP shares the port (rtcp-mux): packet types 200-204 sit where RTP's M+PT byte is."""
    return len(data) >= 2 and data[0] >> 6 == 2 and 200 <= data[1] <= 204


def parse_rtp(data: bytes) -> RtpPacket:
    n = len(data)
    if n > MAX_DATAGRAM:
        raise RtpError("oversized")
    if n < RTP_HEADER:
        raise RtpError("truncated")
    b0 = data[0]
    if b0 >> 6 != 2:
        raise RtpError("bad_version")
    off = RTP_HEADER + 4 * (b0 & 0x0F)  # CSRC list
    if off > n:
        raise RtpError("truncated")
    if b0 & 0x10:  # header extension: 16-bit profile, 16-bit length in 32-bit words
        if off + 4 > n:
            raise RtpError("truncated")
        off += 4 + 4 * int.from_bytes(data[off + 2 : off + 4], "big")
        if off > n:
            raise RtpError("truncated")
    end = n
    if b0 & 0x20:  # padding: the last byte counts the padding bytes, itself included
        pad = data[-1]
        if pad == 0 or off + pad > n:
            raise RtpError("bad_padding")
        end -= pad
    if end <= off:
        raise RtpError("empty_payload")
    return RtpPacket(
        pt=data[1] & 0x7F,
        seq=int.from_bytes(data[2:4], "big"),
        timestamp=int.from_bytes(data[4:8], "big"),
        ssrc=int.from_bytes(data[8:12], "big"),
        marker=bool(data[1] & 0x80),
        payload=bytes(data[off:end]),
    )


def build_rtp(pt: int, seq: int, timestamp: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    """A minimal RTP packet (tests and the benchmark)."""
    return (
        bytes([0x80, (0x80 if marker else 0) | (pt & 0x7F)])
        + (seq & 0xFFFF).to_bytes(2, "big")
        + (timestamp & 0xFFFFFFFF).to_bytes(4, "big")
        + (ssrc & 0xFFFFFFFF).to_bytes(4, "big")
        + payload
    )


def unwrap(last: int, value: int, bits: int) -> int:
    """Extend a wrapping counter (`bits` wide) to the value closest to `last` (already extended)."""
    span = 1 << bits
    half = span >> 1
    cand = (last & ~(span - 1)) | value
    if cand - last > half:
        cand -= span
    elif last - cand > half:
        cand += span
    return cand
