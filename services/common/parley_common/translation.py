"""The caption published for one target language, by a translate replica (text engines) or an STT
replica (Whisper's speech translation): the translation, or, where no engine serves the pair (or
the translation was withheld), the original for that language's listeners, labelled as what it is."""

from __future__ import annotations

from parley_common.schemas import Caption, Timing


def translated(caption: Caption, target: str, text: str, via: str, timing: Timing) -> Caption:
    return caption.model_copy(
        update={"lang": target, "text": text, "via": via, "error": "", "timing": timing}
    )


def untranslated(caption: Caption, target: str, why: str, timing: Timing) -> Caption:
    """The original (lang = the language it is in) for listeners of `target`, with the reason."""
    return caption.model_copy(
        update={
            "lang": caption.source_lang,
            "text": caption.source_text,
            "for_lang": target,
            "via": "",
            "error": why,
            "timing": timing,
        }
    )


def no_engine(source: str, target: str) -> str:
    return f"no translation engine for {source}->{target}"
