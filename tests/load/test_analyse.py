"""The load generator's counting: a listener missing a clip's final counts one lost final, a
caption id delivered twice counts one duplicate, a clip split into two finals counts neither."""

from __future__ import annotations

import numpy as np
from pipeline import Clip, Spoken

from bench.load.analyse import analyse
from bench.load.users import ResilientCaptions, User

T0 = 1_800_000_000.0


def _final(cid: str, speaker: str, start: float, end: float, at: float) -> tuple[float, dict[str, object]]:
    caption = {
        "type": "final",
        "id": cid,
        "speaker": speaker,
        "lang": "en",
        "text": "words",
        "start": start,
        "end": end,
        "timing": {"speech_end": T0 + end},
    }
    return at, {"type": "caption", "event_id": f"{int(at * 1000)}-0", "caption": caption}


def _user(sub: str, received: list[tuple[float, dict[str, object]]]) -> User:
    u = User("room", sub, "source")
    u.captions = ResilientCaptions(lambda since: "ws://unused")
    u.captions.received = list(received)
    return u


def test_lost_duplicate_and_split_finals_are_counted_per_listener() -> None:
    clip = Clip("c", "words", np.zeros(16000 * 4, dtype=np.float32), 0.0, 4.0)
    spoken = [Spoken("room", "ana", clip, T0), Spoken("room", "ana", clip, T0 + 10)]
    a = _final("room/ana/0", "ana", 0.0, 4.0, T0 + 5.5)
    b1 = _final("room/ana/1", "ana", 10.0, 12.0, T0 + 13.0)  # the second clip split in two finals
    b2 = _final("room/ana/2", "ana", 12.2, 14.0, T0 + 15.2)
    complete = _user("u0", [a, b1, b2])
    missing_one = _user("u1", [a])
    twice = _user("u2", [a, a, b1, b2])
    res = analyse([complete, missing_one, twice], spoken)
    assert res["listener_finals_expected"] == 6
    assert res["lost_finals"] == 1
    assert res["duplicate_finals"] == 1
    # latency is taken at the clip's last final: 1.5 s and 1.2 s after the speech ends
    assert res["e2e_final_max_s"] == 1.5
    assert res["e2e_final_p50_s"] == 1.5


def test_first_word_is_the_first_caption_showing_a_word_of_the_clip() -> None:
    """From the speech onset to the first caption, partial or final, with a word of the reference:
    an empty partial and one of only other words do not count."""
    from pipeline import Received, first_word_at

    def got(at: float, text: str) -> Received:
        return Received(at, {"type": "partial", "text": text}, "room")

    reference = "He was not an ill-disposed young man"
    captions = [
        got(T0 + 0.9, "Unless."),
        got(T0 + 0.4, ""),
        got(T0 + 1.3, "He's ill"),
        got(T0 + 1.8, "He was"),
    ]
    assert first_word_at(reference, captions) == T0 + 1.3  # "ill" (ill-disposed -> ill disposed)
    assert first_word_at(reference, captions[:2]) is None
