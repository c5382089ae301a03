"""The gateway's FinalsIndex tells a re-published final (after a Redis failover) from a new event
that shares its id: the original labelled for another language's listeners (issue 17's offer) is
news for those listeners, though its text and language are the source final's."""

from __future__ import annotations

from parley_common.schemas import Caption, CaptionType
from parley_common.translation import translated, untranslated
from parley_gateway.relang import FinalsIndex


def vietnamese_final() -> Caption:
    text = "Ngân sách đã sẵn sàng."
    return Caption(
        type=CaptionType.FINAL, id="r/lan/1", room="r", speaker="lan", speaker_name="Lan", utt=1,
        lang="vi", text=text, source_lang="vi", source_text=text, start=0.0, end=1.5,
    )  # fmt: skip


def test_the_original_labelled_for_spanish_listeners_is_not_a_republish() -> None:
    index = FinalsIndex(max_finals=10)
    source = vietnamese_final()
    index.add("1-0", source)
    for_spanish = untranslated(source, "es", "no translation engine for vi->es", source.timing)
    assert not index.seen(for_spanish)
    index.add("2-0", for_spanish)
    assert index.seen(for_spanish)  # the same copy again (a failover re-publish): listeners have it


def test_a_republished_final_or_translation_is_seen() -> None:
    index = FinalsIndex(max_finals=10)
    source = vietnamese_final()
    english = translated(source, "en", "The budget is ready.", "whisper", source.timing)
    assert not index.seen(source)
    index.add("1-0", source)
    assert index.seen(source)
    assert not index.seen(english)
    index.add("2-0", english)
    assert index.seen(english)
    assert not index.seen(english.model_copy(update={"text": "The budget is done."}))  # a correction
