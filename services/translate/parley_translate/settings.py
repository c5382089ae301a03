"""Translation service settings (PARLEY_TRANSLATE_*)."""

from __future__ import annotations

from typing import Literal

from parley_common.settings import PoolSettings
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict


class TranslateSettings(PoolSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_TRANSLATE_", extra="ignore")

    # Engines tried in order for each language pair: "ct2" (needs ct2_model) and/or "apertium".
    engines: str = "apertium"
    ct2_model: str = ""  # local CTranslate2 folder or hub name, e.g. an NLLB-200 conversion
    ct2_tokenizer: str = ""  # defaults to the model folder
    ct2_kind: Literal["nllb", "m2m100", "marian"] = "nllb"
    ct2_pair: str = ""  # Marian models translate one pair, e.g. "en-vi"
    device: str = "cpu"
    compute_type: str = "int8"
    threads: int = 1
    beam_size: int = 2
    # Debian's apertium modes (one file per pair); APERTIUM_MODES, apertium's own variable, too.
    apertium_modes: str = Field(
        "/usr/share/apertium/modes",
        validation_alias=AliasChoices("PARLEY_TRANSLATE_APERTIUM_MODES", "APERTIUM_MODES"),
    )
    partial_max_age_s: float = 1.0
    claim_idle_ms: int = 3000
    # A replica's engine report (parley_common.routes) older than this no longer counts.
    engine_report_max_age_s: float = 300.0
