"""Language codes: Whisper speaks ISO 639-1 ("vi"); each engine has its own spelling."""

from __future__ import annotations

# Whisper code -> NLLB-200 (FLORES-200) code. The languages Whisper and NLLB share most often.
NLLB = {
    "af": "afr_Latn",
    "am": "amh_Ethi",
    "ar": "arb_Arab",
    "az": "azj_Latn",
    "be": "bel_Cyrl",
    "bg": "bul_Cyrl",
    "bn": "ben_Beng",
    "bs": "bos_Latn",
    "ca": "cat_Latn",
    "cs": "ces_Latn",
    "cy": "cym_Latn",
    "da": "dan_Latn",
    "de": "deu_Latn",
    "el": "ell_Grek",
    "en": "eng_Latn",
    "es": "spa_Latn",
    "et": "est_Latn",
    "eu": "eus_Latn",
    "fa": "pes_Arab",
    "fi": "fin_Latn",
    "fr": "fra_Latn",
    "gl": "glg_Latn",
    "gu": "guj_Gujr",
    "he": "heb_Hebr",
    "hi": "hin_Deva",
    "hr": "hrv_Latn",
    "hu": "hun_Latn",
    "hy": "hye_Armn",
    "id": "ind_Latn",
    "is": "isl_Latn",
    "it": "ita_Latn",
    "ja": "jpn_Jpan",
    "ka": "kat_Geor",
    "kk": "kaz_Cyrl",
    "km": "khm_Khmr",
    "kn": "kan_Knda",
    "ko": "kor_Hang",
    "lo": "lao_Laoo",
    "lt": "lit_Latn",
    "lv": "lvs_Latn",
    "mk": "mkd_Cyrl",
    "ml": "mal_Mlym",
    "mn": "khk_Cyrl",
    "mr": "mar_Deva",
    "ms": "zsm_Latn",
    "my": "mya_Mymr",
    "ne": "npi_Deva",
    "nl": "nld_Latn",
    "no": "nob_Latn",
    "pa": "pan_Guru",
    "pl": "pol_Latn",
    "pt": "por_Latn",
    "ro": "ron_Latn",
    "ru": "rus_Cyrl",
    "sk": "slk_Latn",
    "sl": "slv_Latn",
    "sq": "als_Latn",
    "sr": "srp_Cyrl",
    "sv": "swe_Latn",
    "sw": "swh_Latn",
    "ta": "tam_Taml",
    "te": "tel_Telu",
    "th": "tha_Thai",
    "tl": "tgl_Latn",
    "tr": "tur_Latn",
    "uk": "ukr_Cyrl",
    "ur": "urd_Arab",
    "uz": "uzn_Latn",
    "vi": "vie_Latn",
    "yo": "yor_Latn",
    "zh": "zho_Hans",
}

# Whisper code -> Apertium's ISO 639-3 code (apertium pairs are named either way: eng-spa, en-gl).
APERTIUM = {
    "en": "eng",
    "es": "spa",
    "ca": "cat",
    "gl": "glg",
    "eo": "epo",
    "eu": "eus",
    "is": "isl",
    "mk": "mkd",
    "fr": "fra",
    "pt": "por",
    "it": "ita",
    "oc": "oci",
    "ro": "ron",
    "sh": "hbs",
    "hr": "hbs",
    "sr": "hbs",
    "bs": "hbs",
    "nb": "nob",
    "nn": "nno",
    "da": "dan",
    "sv": "swe",
}


def from_apertium(code: str) -> list[str]:
    """The Whisper codes an apertium code stands for ("hbs": hr, sr, bs; "gl": gl)."""
    whisper = [k for k, v in APERTIUM.items() if v == code and k != "sh"]  # Whisper has no "sh"
    return whisper or ([code] if len(code) == 2 else [])


def to_nllb(code: str) -> str | None:
    return NLLB.get(code) or (code if "_" in code else None)


def from_nllb(code: str) -> str:
    for k, v in NLLB.items():
        if v == code:
            return k
    return code


def m2m100_token(code: str) -> str:
    return f"__{code}__"
