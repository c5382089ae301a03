"""This gateway's open caption sockets: caps per participant, per client address and in all, and
ending them when the room closes, the participant is removed or the token expires.

A socket is admitted with `admit()` (None, or why not) and `release()`d when it ends. `end_room`
and `end_participant` (called by commands.py, which follows `sfu:commands`) tell every matching
socket to close at once; `Entry.ended` is what the socket's handler waits on.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass(eq=False)
class Entry:
    room: str
    participant: str  # the token's sub; "" when the socket needs no token
    address: str
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    code: int = 1000
    reason: str = ""

    def end(self, code: int, reason: str) -> None:
        if not self.ended.is_set():
            self.code, self.reason = code, reason
            self.ended.set()


class SocketRegistry:
    def __init__(
        self, *, per_participant: int, per_address: int, total: int, replay_events_per_min: int = 0
    ) -> None:
        self.per_participant = per_participant
        self.per_address = per_address
        self.total = total
        self.replay_events_per_min = replay_events_per_min
        self._replayed: dict[str, tuple[int, int]] = {}  # address -> (minute, events replayed in it)
        self.entries: set[Entry] = set()
        self._by_participant: Counter[tuple[str, str]] = Counter()
        self._by_address: Counter[str] = Counter()

    def admit(self, room: str, participant: str, address: str) -> Entry | str:
        """The new socket's entry, or why it is refused."""
        if len(self.entries) >= self.total > 0:
            return "this gateway has no room for more caption sockets; retry later"
        if participant and 0 < self.per_participant <= self._by_participant[(room, participant)]:
            return f"too many caption sockets for this participant (at most {self.per_participant})"
        if 0 < self.per_address <= self._by_address[address]:
            return f"too many caption sockets from this address (at most {self.per_address})"
        entry = Entry(room, participant, address)
        self.entries.add(entry)
        self._by_participant[(room, participant)] += 1
        self._by_address[address] += 1
        return entry

    def release(self, entry: Entry) -> None:
        if entry not in self.entries:
            return
        self.entries.discard(entry)
        self._by_participant[(entry.room, entry.participant)] -= 1
        self._by_address[entry.address] -= 1
        if self._by_participant[(entry.room, entry.participant)] <= 0:
            del self._by_participant[(entry.room, entry.participant)]
        if self._by_address[entry.address] <= 0:
            del self._by_address[entry.address]

    def take_replay(self, address: str, events: int) -> bool:
        """Whether `address` may be replayed `events` more events this minute (and counts them)."""
        if self.replay_events_per_min <= 0:
            return True
        minute = int(time.monotonic() // 60)
        if len(self._replayed) > 10_000:  # forget other minutes' counts
            self._replayed = {a: v for a, v in self._replayed.items() if v[0] == minute}
        at, used = self._replayed.get(address, (minute, 0))
        used = used if at == minute else 0
        if used + events > self.replay_events_per_min:
            return False
        self._replayed[address] = (minute, used + events)
        return True

    def end_room(self, room: str, reason: str) -> int:
        hits = [e for e in self.entries if e.room == room]
        for e in hits:
            e.end(1008, reason)
        return len(hits)

    def end_participant(self, room: str, participant: str, reason: str) -> int:
        hits = [e for e in self.entries if e.room == room and e.participant == participant]
        for e in hits:
            e.end(1008, reason)
        return len(hits)
