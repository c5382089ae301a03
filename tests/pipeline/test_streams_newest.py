"""newest_per_key: which partials are worth the work (pure logic, no Redis)."""

from __future__ import annotations

from parley_common.streams import Entry, newest_per_key


def _entry(eid: str, caption: str | None) -> Entry:
    fields = {b"caption": caption.encode()} if caption is not None else {b"junk": b"1"}
    return eid.encode(), fields


def _caption(entry: Entry) -> str | None:
    value = entry[1].get(b"caption")
    return value.decode() if value is not None else None


def test_keeps_the_newest_entry_of_each_key_and_names_the_rest() -> None:
    entries = [
        _entry("5-0", "a"),
        _entry("5-1", "b"),
        _entry("6-0", "a"),
        _entry("10-0", "a"),
    ]
    kept, superseded = newest_per_key(entries, _caption)
    assert [e[0] for e in kept] == [b"5-1", b"10-0"]
    assert superseded == [b"5-0", b"6-0"]


def test_unparseable_entries_are_kept_for_their_handler_in_stream_order() -> None:
    entries = [_entry("1-0", "a"), _entry("2-0", None), _entry("3-0", "a"), _entry("4-0", None)]
    kept, superseded = newest_per_key(entries, _caption)
    assert [e[0] for e in kept] == [b"2-0", b"3-0", b"4-0"]
    assert superseded == [b"1-0"]


def test_ids_are_ordered_numerically_not_as_text() -> None:
    kept, _ = newest_per_key([_entry("9-0", "x"), _entry("10-0", "y")], _caption)
    assert [e[0] for e in kept] == [b"9-0", b"10-0"]
