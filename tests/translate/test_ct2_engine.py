"""CTranslate2Engine on a tiny NLLB-200 converted on the spot (conftest.py): loading, supports(),
NLLB source/target language tokens, batching and detokenising; and the service's engine choice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from parley_translate.engines.apertium import ApertiumEngine
from parley_translate.engines.base import Engine, TranslationError
from parley_translate.engines.ct2 import CTranslate2Engine
from parley_translate.langcodes import NLLB, from_nllb, to_nllb
from parley_translate.service import Translator
from parley_translate.settings import TranslateSettings

EN = [
    "Hello everyone, can you hear me?",
    "The budget needs another review on Thursday.",
    "Who is taking notes today?",
]
VI = [
    "Xin chào mọi người, bạn có nghe rõ không?",
    "Ngân sách cần được xem xét lại vào thứ Năm.",
    "Hôm nay ai ghi chép?",
]


@pytest.fixture(scope="module")
def engine(nllb_dir: Path) -> CTranslate2Engine:
    return CTranslate2Engine(str(nllb_dir), kind="nllb")


def specials(engine: CTranslate2Engine) -> set[str]:
    return set(engine.tokenizer.all_special_tokens)


def test_whisper_codes_map_to_flores200() -> None:
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    assert to_nllb("vi") == "vie_Latn"
    assert to_nllb("en") == "eng_Latn"
    assert to_nllb("es") == "spa_Latn"
    assert to_nllb("vie_Latn") == "vie_Latn"  # already an NLLB code
    assert to_nllb("xx") is None
    assert set(NLLB.values()) <= set(FAIRSEQ_LANGUAGE_CODES)
    assert all(from_nllb(to_nllb(code) or "") == code for code in NLLB)


def test_loads_converted_model_and_tokenizer(engine: CTranslate2Engine, nllb_dir: Path) -> None:
    assert engine.name == "ct2-nllb"
    assert type(engine.tokenizer).__name__ == "NllbTokenizer"
    # The model's vocabulary is the tokenizer's, id for id: tokens pass between them as strings.
    vocabulary = json.loads((nllb_dir / "shared_vocabulary.json").read_text())
    assert vocabulary == engine.tokenizer.convert_ids_to_tokens(list(range(len(engine.tokenizer))))
    assert {"eng_Latn", "vie_Latn", "spa_Latn"} <= engine.vocab


def test_supports(engine: CTranslate2Engine) -> None:
    assert engine.supports("en", "vi")
    assert engine.supports("vi", "en")
    assert engine.supports("en", "es")
    assert not engine.supports("en", "xx")
    assert not engine.supports("xx", "en")
    with pytest.raises(TranslationError):
        engine.translate(["Hello"], "en", "xx")


def test_reports_every_language_its_vocabulary_has(engine: CTranslate2Engine, nllb_dir: Path) -> None:
    info = engine.info()
    assert info.name == "ct2-nllb" and info.kind == "text" and info.model == str(nllb_dir)
    assert set(info.languages) == set(NLLB)  # the tiny model's vocabulary has all 202 FLORES codes
    assert info.serves("vi", "en") and info.serves("en", "vi") and not info.serves("en", "xx")


def test_source_side_is_lang_code_pieces_eos(engine: CTranslate2Engine) -> None:
    text = EN[2]
    pieces = engine.tokenizer.tokenize(text)
    assert pieces and not set(pieces) & specials(engine)
    # transformers' current NLLB convention: [src_lang_code] X [eos]
    assert engine.encode([text], "en") == [["eng_Latn", *pieces, "</s>"]]
    # The source language is per call, on a shared tokenizer: switching back and forth sticks.
    [vi] = engine.encode([VI[2]], "vi")
    assert vi[0] == "vie_Latn" and vi[-1] == "</s>" and vi.count("vie_Latn") == 1
    assert engine.encode([text], "en") == [["eng_Latn", *pieces, "</s>"]]


@pytest.mark.parametrize(("source", "target", "texts"), [("en", "vi", EN), ("vi", "en", VI)])
def test_translate_batch_detokenises(
    engine: CTranslate2Engine, source: str, target: str, texts: list[str]
) -> None:
    target_token = to_nllb(target)
    hyps = engine.hypotheses(texts, source, target)
    assert len(hyps) == len(texts)
    assert all(h[0] == target_token for h in hyps), "decoding must be forced to start in the target language"
    # The random model also emits special tokens mid-sentence: the engine has to drop them.
    assert any(set(h[1:]) & specials(engine) for h in hyps)

    out = engine.translate(texts, source, target)
    assert len(out) == len(texts) and all(isinstance(t, str) for t in out)
    assert any(out)
    for text, hyp in zip(out, hyps, strict=True):
        for token in specials(engine) | {"</s>", "<unk>", "vie_Latn", "eng_Latn", "▁"}:
            assert token not in text
        assert text == text.strip()
        # Exactly the ordinary pieces, in order, with SentencePiece's word marks turned into spaces.
        ordinary = [t for t in hyp if t not in specials(engine)]
        assert text.replace(" ", "") == "".join(ordinary).replace("▁", "")


def test_batch_equals_one_by_one(engine: CTranslate2Engine) -> None:
    for source, target, texts in (("en", "vi", EN), ("vi", "en", VI)):
        batch = engine.translate(texts, source, target)
        assert [engine.translate([t], source, target)[0] for t in texts] == batch
        # Padding a short text next to longer ones changes nothing (beam search is deterministic).
        assert engine.translate([texts[2], texts[0]], source, target) == [batch[2], batch[0]]
    assert engine.translate([], "en", "vi") == []


def test_service_engine_choice(engine: CTranslate2Engine) -> None:
    apertium = ApertiumEngine()
    if not apertium.supports("en", "es"):
        pytest.skip("apertium-eng-spa is not installed (scripts/bootstrap.sh installs it)")
    assert not apertium.supports("en", "vi")
    settings = TranslateSettings(instance="test")
    # Translator's constructor only prepares consumer groups and scripts: this client never connects.
    unused_redis = aioredis.from_url("redis://127.0.0.1:6379/10")

    # Engines are tried in order (PARLEY_TRANSLATE_ENGINES): the first that supports the pair wins.
    engines: list[Engine] = [engine, apertium]
    t = Translator(unused_redis, settings, engines)
    assert t.engine_for("en", "vi") is engine
    assert t.engine_for("vi", "en") is engine
    assert t.engine_for("en", "es") is engine  # NLLB covers en->es too, and comes first
    assert t.engine_for("en", "xx") is None

    engines = [apertium, engine]
    t = Translator(unused_redis, settings, engines)
    assert t.engine_for("en", "es") is apertium
    assert t.engine_for("en", "vi") is engine
