"""CTranslate2 sequence-to-sequence models: NLLB-200 (the design's engine), M2M100, Marian/OPUS-MT.

`model` is a local CTranslate2 folder or a hub name (converted models such as
"JustFrederik/nllb-200-distilled-600M-ct2-int8"); the tokenizer is a transformers tokenizer,
read from `tokenizer` (a folder or hub name; default: the model folder).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Literal

import ctranslate2
from parley_common.routes import EngineInfo

from parley_translate.engines.base import TranslationError
from parley_translate.langcodes import NLLB, m2m100_token, to_nllb

log = logging.getLogger("parley.translate.ct2")

Kind = Literal["nllb", "m2m100", "marian"]


def _local_or_download(name: str) -> str:
    if os.path.isdir(name):
        return name
    from huggingface_hub import snapshot_download  # honours HF_HUB_OFFLINE

    return str(snapshot_download(name))


class CTranslate2Engine:
    def __init__(
        self,
        model: str,
        *,
        kind: Kind = "nllb",
        tokenizer: str = "",
        device: str = "cpu",
        compute_type: str = "int8",
        threads: int = 1,
        pair: str = "",
        beam_size: int = 2,
    ) -> None:
        from transformers import AutoTokenizer

        self.name = f"ct2-{kind}"
        self.kind = kind
        self.model = model
        self.beam_size = beam_size
        path = _local_or_download(model)
        self.translator = ctranslate2.Translator(
            path, device=device, compute_type=compute_type, intra_threads=threads
        )
        self.tokenizer: Any = AutoTokenizer.from_pretrained(tokenizer or path)
        self.vocab = set(self.tokenizer.get_vocab())
        self.pair = tuple(pair.split("-", 1)) if pair else None  # Marian: one pair per model
        self._lock = threading.Lock()  # HF tokenizers' src_lang is per-instance state
        log.info("loaded %s translation model %s", kind, model)

    def _source_token(self, lang: str) -> str | None:
        if self.kind == "nllb":
            return to_nllb(lang)
        if self.kind == "m2m100":
            return m2m100_token(lang)
        return None

    def supports(self, source: str, target: str) -> bool:
        if self.kind == "marian":
            return self.pair == (source, target)
        s, t = self._source_token(source), self._source_token(target)
        return s is not None and t is not None and s in self.vocab and t in self.vocab

    def info(self) -> EngineInfo:
        if self.kind == "marian":
            pairs = [f"{self.pair[0]}-{self.pair[1]}"] if self.pair else []
            return EngineInfo(name=self.name, kind="text", pairs=pairs, model=self.model)
        langs = [w for w in NLLB if (tok := self._source_token(w)) is not None and tok in self.vocab]
        return EngineInfo(name=self.name, kind="text", languages=langs, model=self.model)

    def encode(self, texts: list[str], source: str) -> list[list[str]]:
        """Source tokens as the model reads them (NLLB: `[src_lang] pieces </s>`)."""
        with self._lock:
            if self.kind != "marian":
                self.tokenizer.src_lang = NLLB.get(source, source) if self.kind == "nllb" else source
            return [self.tokenizer.convert_ids_to_tokens(self.tokenizer.encode(t)) for t in texts]

    def hypotheses(self, texts: list[str], source: str, target: str) -> list[list[str]]:
        """The best hypothesis of each text, as raw target tokens (the target-language prefix included)."""
        if not self.supports(source, target):
            raise TranslationError(f"{self.name} does not translate {source}->{target}")
        batch = self.encode(texts, source)
        target_token = self._source_token(target)
        prefix = [[target_token] for _ in texts] if target_token is not None else None
        results = self.translator.translate_batch(
            batch,
            target_prefix=prefix,
            beam_size=self.beam_size,
            max_decoding_length=256,
            max_input_length=512,
        )
        return [list(r.hypotheses[0]) for r in results]

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        target_token = self._source_token(target)
        out: list[str] = []
        for tokens in self.hypotheses(texts, source, target):
            if target_token is not None and tokens and tokens[0] == target_token:
                tokens = tokens[1:]
            ids = self.tokenizer.convert_tokens_to_ids(tokens)
            out.append(self.tokenizer.decode(ids, skip_special_tokens=True).strip())
        return out
