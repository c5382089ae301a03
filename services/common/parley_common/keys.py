"""Every Redis key and stream name in one place, so no service spells one differently."""

from __future__ import annotations

SPEAKERS_ACTIVE = "speakers:active"  # zset "room/speaker" -> last frame time (epoch s)
STT_JOBS_FINAL = "stt:jobs:final"
STT_JOBS_PARTIAL = "stt:jobs:partial"
STT_JOBS_TRANSLATE = "stt:jobs:translate"  # finals to translate from the speech (Whisper task=translate)
TRANSLATE_JOBS_FINAL = "translate:jobs:final"
TRANSLATE_JOBS_PARTIAL = "translate:jobs:partial"
TRANSLATE_JOBS_BACKFILL = "translate:jobs:backfill"  # earlier finals a listener wants in a new language
PERSIST_CAPTIONS = "persist:captions"  # every final and final translation, for the transcript store
DEAD_LETTERS = "deadletter"
LANG_ENGINES = "lang:engines"  # hash "service/replica" -> JSON of the engines it has loaded (routes.py)
SFU_EVENTS = (
    "sfu:events"  # the SFU's producer events (schemas.SfuEvent): read by the ingest and the persister
)
SFU_COMMANDS = "sfu:commands"  # host commands for the SFU (schemas.SfuCommand), written by the gateway's API
STT_GROUP = "stt"
TRANSLATE_GROUP = "translate"


def worker_beat(service: str, replica: str) -> str:
    """String (schemas.WorkerBeat JSON) expiring after the pool's dead_after: a live replica of
    `service` ("stt", "translate") and how fast it is (parley_common.dispatch)."""
    return f"worker:{service}:{replica}"


def workers(service: str) -> str:
    """Set of the replicas of `service` that have beaten (parley_common.dispatch)."""
    return f"workers:{service}"


def audio_stream(room: str, speaker: str) -> str:
    return f"audio:{room}:{speaker}"


def ingest_anchor(producer: str) -> str:
    """String "<rtp timestamp>:<epoch ms>": where an SFU producer's media timeline starts, shared
    by every RTP ingest replica so they give each frame the same stream id."""
    return f"anchor:{producer}"


def room_info(room: str) -> str:
    """Hash: t0 (meeting start, epoch s), language, prompt, hotwords."""
    return f"room:{room}"


def room_speakers(room: str) -> str:
    """Hash speaker id -> display name."""
    return f"room:{room}:speakers"


def room_removed(room: str) -> str:
    """Set of participant ids a host removed: refused at the SFU and the caption socket."""
    return f"room:{room}:removed"


def room_muted(room: str) -> str:
    """Set of participant ids a host muted: their audio stays paused at the SFU until unmuted."""
    return f"room:{room}:muted"


def room_languages(room: str) -> str:
    """Zset caption language -> expiry (epoch s); gateways refresh the languages their listeners want."""
    return f"room:{room}:langs"


def speaker_language(room: str, speaker: str) -> str:
    """Hash: lang, prob, redetect, at, detections: the language a speaker was detected speaking
    (rooms of several languages; parley_stt/speaker_lang.py)."""
    return f"spklang:{room}:{speaker}"


def captions_stream(room: str) -> str:
    return f"captions:{room}"


def segmenter_lease(room: str, speaker: str) -> str:
    return f"lease:seg:{room}:{speaker}"


def segmenter_state(room: str, speaker: str) -> str:
    return f"seg:{room}:{speaker}"


def utterance_state(caption_id: str) -> str:
    """Hash of the utterance protocol (attempt, cancel:<n>, confirmed, eos, result:<n>, published):
    its fields and state machine are documented, and only written, in parley_common.publish."""
    return f"utt:{caption_id}"


def published_marker(caption_id: str, kind: str, lang: str) -> str:
    return f"pub:{caption_id}:{kind}:{lang}"


def caption_id(room: str, speaker: str, utterance: int) -> str:
    return f"{room}/{speaker}/{utterance}"


def split_speaker_member(member: str) -> tuple[str, str]:
    room, _, speaker = member.partition("/")
    return room, speaker
