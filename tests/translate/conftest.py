"""A tiny NLLB-200 built on the spot: no registry ships NLLB weights, so the CTranslate2 path is
tested with random weights. The tokenizer is a real `transformers.NllbTokenizer` around a
SentencePiece BPE model trained here, and the model is a real CTranslate2 conversion of an
M2M100-shaped spec (what `ct2-transformers-converter` writes for facebook/nllb-200-*), so the
loading, language-token, batching and detokenising code under test is the production code."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
import pytest
import sentencepiece as spm
from ctranslate2.converters import Converter
from ctranslate2.specs import TransformerSpec, common_spec

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

CORPUS = [
    "Hello everyone, welcome to the weekly meeting.",
    "Can you hear me clearly now?",
    "The next release ships on Thursday afternoon.",
    "Please share your screen so we can see the chart.",
    "I think the budget needs another review.",
    "Thank you, that was a very helpful summary.",
    "Let us move on to the next item on the agenda.",
    "Who is taking notes today?",
    "Xin chào mọi người, chào mừng đến với cuộc họp hàng tuần.",
    "Bây giờ bạn có nghe rõ tôi không?",
    "Phiên bản tiếp theo sẽ phát hành vào chiều thứ Năm.",
    "Vui lòng chia sẻ màn hình để chúng tôi xem biểu đồ.",
    "Tôi nghĩ ngân sách cần được xem xét lại.",
    "Cảm ơn bạn, bản tóm tắt đó rất hữu ích.",
    "Chúng ta chuyển sang mục tiếp theo trong chương trình.",
    "Hôm nay ai ghi chép?",
    "Hola a todos, bienvenidos a la reunión semanal.",
    "¿Me oyes bien ahora?",
    "La próxima versión sale el jueves por la tarde.",
    "Por favor comparte tu pantalla para ver el gráfico.",
    "Creo que el presupuesto necesita otra revisión.",
    "Gracias, fue un resumen muy útil.",
    "Pasemos al siguiente punto del orden del día.",
    "¿Quién toma notas hoy?",
]

D_MODEL = 32
FFN = 64
HEADS = 2
LAYERS = 2
MAX_POSITIONS = 1024
# Random-weight scales picked so the hypotheses depend on the input and mix ordinary pieces with
# special tokens for the engine to drop (202 of the ~360 tokens are language codes: the random model
# emits them mid-sentence). It rarely picks </s>, so most hypotheses run to max_decoding_length.
EMBEDDING_SCALE = 0.15
WEIGHT_SCALE = 0.6


def train_sentencepiece(path: Path) -> None:
    """A BPE model laid out like NLLB's sentencepiece.bpe.model: <unk>=0, <s>=1, </s>=2."""
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS),
        model_writer=buf,
        model_type="bpe",
        vocab_size=160,
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        minloglevel=2,
    )
    path.write_bytes(buf.getvalue())


def build_tokenizer(folder: Path) -> Any:
    """A real NllbTokenizer (fairseq ids: <s> <pad> </s> <unk>, pieces, the 202 FLORES-200 codes)."""
    from transformers import NllbTokenizer
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    folder.mkdir(parents=True)
    train_sentencepiece(folder / "sentencepiece.bpe.model")
    # Converting a bare .model makes transformers list the model's control symbols as the extra
    # special tokens, which replaces NLLB's default language codes: name them, as the hub
    # tokenizer_config.json does.
    return NllbTokenizer.from_pretrained(str(folder), extra_special_tokens=list(FAIRSEQ_LANGUAGE_CODES))


def sinusoids(num: int, dim: int, offset: int = 2) -> np.ndarray:
    """M2M100SinusoidalPositionalEmbedding's table (sin half, cos half), past its padding offset."""
    half = dim // 2
    freqs = np.exp(np.arange(half, dtype=np.float64) * -(math.log(10000.0) / (half - 1)))
    angles = np.arange(offset, offset + num, dtype=np.float64)[:, None] * freqs[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)


class TinyNllbConverter(Converter):  # type: ignore[misc]  # ctranslate2 is untyped
    """Builds the spec M2M100Loader would build from an NLLB checkpoint, with random weights."""

    def __init__(self, tokenizer: Any, tokenizer_files: list[str], seed: int = 0) -> None:
        self.tokenizer = tokenizer
        self.tokenizer_files = tokenizer_files
        self.rng = np.random.default_rng(seed)

    def _w(self, *shape: int, scale: float = WEIGHT_SCALE) -> np.ndarray:
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def _linear(self, spec: common_spec.LinearSpec, out_dim: int, in_dim: int) -> None:
        spec.weight = self._w(out_dim, in_dim)
        spec.bias = self._w(out_dim, scale=0.02)

    def _norm(self, spec: common_spec.LayerNormSpec) -> None:
        spec.gamma = np.ones(D_MODEL, dtype=np.float32)
        spec.beta = np.zeros(D_MODEL, dtype=np.float32)

    def _common(self, spec: Any) -> None:
        spec.scale_embeddings = math.sqrt(D_MODEL)  # M2M100: scale_embedding=True
        spec.position_encodings.encodings = sinusoids(MAX_POSITIONS, D_MODEL)
        self._norm(spec.layer_norm)  # pre-norm: a final layer norm
        for layer in spec.layer:
            self._norm(layer.self_attention.layer_norm)
            self._linear(layer.self_attention.linear[0], 3 * D_MODEL, D_MODEL)  # fused q, k, v
            self._linear(layer.self_attention.linear[1], D_MODEL, D_MODEL)
            self._norm(layer.ffn.layer_norm)
            self._linear(layer.ffn.linear_0, FFN, D_MODEL)
            self._linear(layer.ffn.linear_1, D_MODEL, FFN)

    def _load(self) -> TransformerSpec:
        tokens = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
        vocab = len(tokens)
        spec = TransformerSpec.from_config(
            (LAYERS, LAYERS),
            HEADS,
            pre_norm=True,
            activation=common_spec.Activation.RELU,
            layernorm_embedding=False,
        )
        # One matrix: source, target and output embeddings (NLLB shares them).
        shared = self._w(vocab, D_MODEL, scale=EMBEDDING_SCALE)
        spec.encoder.embeddings[0].weight = shared
        self._common(spec.encoder)
        spec.decoder.embeddings.weight = shared
        self._common(spec.decoder)
        for layer in spec.decoder.layer:
            self._norm(layer.attention.layer_norm)
            self._linear(layer.attention.linear[0], D_MODEL, D_MODEL)  # query
            self._linear(layer.attention.linear[1], 2 * D_MODEL, D_MODEL)  # fused key, value
            self._linear(layer.attention.linear[2], D_MODEL, D_MODEL)
        spec.decoder.projection.weight = shared  # M2M100 has no final_logits_bias

        # As M2M100Loader/BartLoader: one shared vocabulary in id order, decoding starts from </s>.
        spec.register_source_vocabulary(tokens)
        spec.register_target_vocabulary(tokens)
        spec.config.bos_token = self.tokenizer.bos_token
        spec.config.eos_token = self.tokenizer.eos_token
        spec.config.unk_token = self.tokenizer.unk_token
        spec.config.decoder_start_token = self.tokenizer.eos_token
        for path in self.tokenizer_files:  # as `ct2-transformers-converter --copy_files`
            spec.register_file(path)
        return spec


@pytest.fixture(scope="session")
def nllb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CTranslate2 NLLB folder: model.bin, config.json, shared_vocabulary.json + the tokenizer files."""
    root = tmp_path_factory.mktemp("tiny-nllb")
    tokenizer = build_tokenizer(root / "spm")
    files = tokenizer.save_pretrained(str(root / "hf"))
    keep = [f for f in files if Path(f).name in ("tokenizer.json", "tokenizer_config.json")]
    out = root / "ct2"
    TinyNllbConverter(tokenizer, keep).convert(str(out))
    assert ctranslate2.contains_model(str(out))
    return out
