"""Each speaker's language, in a room spoken in several languages (or an unknown one): detected
early, kept per speaker, detected again only when confidence drops. Detection is not paid on every
utterance.

- A room with one spoken language decodes in it: no detection at all.
- A room of several (`language` = `auto`; `spoken_languages` lists them, or nothing is known):
  a speaker with no language yet is detected on their first decode, normally a partial, where
  detection is one decoder step on the encoder output the partial computes anyway. Detection picks
  among the room's languages; the probability kept is the language's share among them. Only a
  detection on at least DETECT_MIN_S of audio is kept (a half-second partial is too short to tell).
- The language is kept (Redis hash spklang:{room}:{speaker}, so any replica uses it) and every
  later decode of the speaker is made in it, as in a one-language room.
- A detection with a share under `gate_language_prob` is kept but tried again on the next decode.
- Confidence drops (a final decoded in the kept language under the gate's plain-caption level,
  and DROP_MARGIN under the speaker's running log-probability: a speaker who switched language):
  the final's audio is detected again (one encoder pass, only then), and if another language wins
  the final is decoded again in it and the speaker's language changes. A language detected on a
  partial is confirmed the same way on the speaker's first weak final (a wrong early guess is fixed
  at once); a speaker whose finals stay weak (a language the model reads poorly) is checked again
  on the 8th, 16th, 32nd ... weak final in a row, not on every utterance: within a weak streak a
  drop below the running log-probability is not taken as a switch (such a speaker's finals vary
  by more than DROP_MARGIN from one to the next). Partials (cut mid-word,
  often weaker) never trigger a detection of a kept language: its final does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from parley_common import keys

from parley_stt import metrics

STATE_TTL_S = 24 * 3600
DETECT_MIN_S = 2.0  # a detection on less audio is used for that decode only, not kept
DROP_MARGIN = 0.4  # a decode this far below the speaker's usual log-probability has lost confidence
BASELINE_WEIGHT = 0.3  # of each new decode in the speaker's running log-probability


@dataclass(frozen=True)
class LanguageChoice:
    language: str | None  # decode in this one; None: detect (among `allowed`)
    allowed: tuple[str, ...]  # the room's spoken languages (empty: any)
    kept: bool  # the language is the speaker's kept one (so a drop in confidence is worth a re-detection)
    baseline: float | None = None  # the speaker's running log-probability in it
    weak: int = 0  # weak finals in a row in it
    confirmed: bool = False  # detected on a final's audio (not only on a partial's)

    def dropped(self, logprob: float, ok_logprob: float) -> bool:
        """Whether to detect again on a final (see the module docstring)."""
        if not self.kept or logprob >= ok_logprob:
            return False
        if not self.confirmed:
            return True
        # A drop is news only after a final that read well: a speaker already in a weak streak (a
        # language the model reads poorly) varies that much from one final to the next, and a
        # detection per such final is the cost this module avoids (CI: 3 detections for 3 finals).
        if self.weak == 0 and self.baseline is not None and logprob < self.baseline - DROP_MARGIN:
            return True
        weak = self.weak + 1
        return weak >= 8 and weak & (weak - 1) == 0


class SpeakerLanguages:
    def __init__(self, r: aioredis.Redis, sure: float) -> None:
        self.r = r
        self.sure = sure  # a detection with a smaller share is tried again on the next decode

    async def choose(
        self, room: str, speaker: str, room_language: str, spoken: tuple[str, ...]
    ) -> LanguageChoice:
        if room_language != "auto":
            return LanguageChoice(room_language, (), kept=False)
        allowed = spoken if len(spoken) > 1 else ()
        key = keys.speaker_language(room, speaker)
        lang, redetect, baseline, weak, confirmed = await self.r.hmget(
            key, "lang", "redetect", "logprob", "weak", "confirmed"
        )
        if lang is None or redetect == b"1":
            metrics.LANGUAGE_DETECTIONS.labels("new_speaker" if lang is None else "unsure").inc()
            return LanguageChoice(None, allowed, kept=False)
        return LanguageChoice(
            lang.decode(),
            allowed,
            kept=True,
            baseline=float(baseline) if baseline is not None else None,
            weak=int(weak or 0),
            confirmed=confirmed == b"1",
        )

    async def learn(
        self, room: str, speaker: str, lang: str, prob: float, logprob: float, *, final: bool, weak: int = 0
    ) -> None:
        """A detection on this speaker's audio (and the log-probability of the decode in that
        language): keep it, to be tried again if unsure."""
        key = keys.speaker_language(room, speaker)
        old, confirmed, count = await self.r.hmget(key, "lang", "confirmed", "detections")
        if not final and confirmed == b"1":
            return  # a partial that raced its final: the final's detection (more audio) stands
        if old is not None and old.decode() != lang:
            metrics.LANGUAGE_CHANGES.inc()
            weak = 0
        mapping = {
            "weak": str(weak),
            "confirmed": "1" if final else "0",
            "lang": lang,
            "prob": f"{prob:.3f}",
            "redetect": "1" if prob < self.sure else "0",
            "logprob": f"{logprob:.3f}",
            "at": f"{time.time():.3f}",
            "detections": str(int(count or 0) + 1),
        }
        await self.r.hset(key, mapping=mapping)
        await self.r.expire(key, STATE_TTL_S)

    async def observe(
        self, room: str, speaker: str, choice: LanguageChoice, logprob: float, weak_final: bool | None
    ) -> None:
        """A decode in the kept language that held: fold its log-probability into the baseline and,
        for a final, count it as weak (under the plain-caption level) or not."""
        old = choice.baseline if choice.baseline is not None else logprob
        mapping = {"logprob": f"{(1 - BASELINE_WEIGHT) * old + BASELINE_WEIGHT * logprob:.3f}"}
        if weak_final is not None:
            mapping["weak"] = str(choice.weak + 1 if weak_final else 0)
        await self.r.hset(keys.speaker_language(room, speaker), mapping=mapping)
