"""A small reordering buffer keyed by extended sequence number.

In-order packets leave at once (no added latency); a packet after a gap waits until the gap is
filled or until it has waited `depth_s` (then the gap is declared lost and the consumer conceals it).
"""

from __future__ import annotations

from dataclasses import dataclass

from parley_ingest.packet import RtpError, RtpPacket, unwrap

MAX_PENDING = 32  # packets held at most (a burst after a long gap is released, not queued forever)
RESET_JUMP = 3000  # a sequence jump this large (a minute of 20 ms packets) is a new stream, not a gap


@dataclass(frozen=True, slots=True)
class Slot:
    seq: int  # extended (never wraps)
    packet: RtpPacket
    arrival: float  # monotonic seconds


class JitterBuffer:
    def __init__(self, depth_s: float = 0.04) -> None:
        self.depth_s = depth_s
        self.next_seq: int | None = None
        self._last_ext: int | None = None
        self._pending: dict[int, Slot] = {}

    def push(self, packet: RtpPacket, arrival: float) -> list[Slot]:
        """Add a packet; returns the packets now releasable, in order. Raises RtpError(late/duplicate)."""
        ext = packet.seq if self._last_ext is None else unwrap(self._last_ext, packet.seq, 16)
        if self.next_seq is None or abs(ext - self.next_seq) > RESET_JUMP:
            self._pending.clear()
            self.next_seq = ext
        if ext < self.next_seq:
            raise RtpError("late")
        if ext in self._pending:
            raise RtpError("duplicate")
        self._last_ext = max(ext, self._last_ext or ext)
        self._pending[ext] = Slot(ext, packet, arrival)
        return self._release(arrival)

    def expire(self, now: float) -> list[Slot]:
        """Give up on gaps whose later packets have waited `depth_s`."""
        return self._release(now)

    def drain(self) -> list[Slot]:
        """Everything held, in order (the stream ends)."""
        out: list[Slot] = []
        while self._pending:
            out += self._skip_and_release()
        return out

    def _skip_and_release(self) -> list[Slot]:
        self.next_seq = min(self._pending)
        return self._release_contiguous()

    def _release_contiguous(self) -> list[Slot]:
        out: list[Slot] = []
        assert self.next_seq is not None
        while self.next_seq in self._pending:
            out.append(self._pending.pop(self.next_seq))
            self.next_seq += 1
        return out

    def _release(self, now: float) -> list[Slot]:
        out = self._release_contiguous()
        while self._pending and (
            len(self._pending) > MAX_PENDING
            or min(s.arrival for s in self._pending.values()) <= now - self.depth_s
        ):
            out += self._skip_and_release()
        return out

    def __len__(self) -> int:
        return len(self._pending)
