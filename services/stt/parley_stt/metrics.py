"""Prometheus metrics of the STT service."""

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)

BAD_INPUT = Counter("parley_stt_bad_input_total", "Malformed frames or jobs dropped", ["reason"])
JOBS = Counter("parley_stt_jobs_total", "STT jobs by kind and outcome", ["kind", "outcome"])
FINALS_CATCH_UP = Counter(
    "parley_stt_finals_catch_up_total", "Finals decoded with the padded window because the replica was behind"
)
FINALS_PACKED = Counter(
    "parley_stt_finals_packed_total", "Finals decoded together with others in one packed window"
)
DROPPED_PARTIALS = Counter("parley_stt_dropped_partials_total", "Partial jobs dropped as stale")
EOS_DECISION = Histogram(
    "parley_stt_eos_decision_seconds", "Speech end to end-of-speech decision", buckets=LATENCY_BUCKETS
)
STT_SECONDS = Histogram(
    "parley_stt_job_seconds", "Job emitted to transcript ready", ["kind"], buckets=LATENCY_BUCKETS
)
DECODE_SECONDS = Histogram(
    "parley_stt_decode_seconds", "Model time per job", ["kind"], buckets=LATENCY_BUCKETS
)
REAL_TIME_FACTOR = Histogram(
    "parley_stt_real_time_factor",
    "Decode seconds per audio second (finals)",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0),
)
SPEAKERS = Gauge("parley_stt_speakers_owned", "Speakers this replica segments")
PENDING = Gauge(
    "parley_stt_jobs_pending",
    "Jobs of the group not yet acknowledged, delivered or not (every replica reports the same figure)",
    ["kind"],
)
GATED = Counter(
    "parley_stt_gate_total",
    "Captions by the decoder-evidence gate's verdict (show, uncertain, withhold)",
    ["kind", "verdict"],
)
LANGUAGE_DETECTIONS = Counter(
    "parley_stt_language_detections_total",
    "Speaker language detections, by why (new_speaker, unsure, confidence_drop)",
    ["reason"],
)
LANGUAGE_CHANGES = Counter("parley_stt_language_changes_total", "A speaker's kept language changed")
SPEECH_TRANSLATIONS = Counter(
    "parley_stt_speech_translations_total",
    "Whisper speech translations into English by outcome (shown, withheld, superseded, ...)",
    ["outcome"],
)
CHECKPOINTS_LOST = Counter(
    "parley_stt_segmenter_checkpoints_lost_total",
    "Speakers whose stored checkpoint was not the segmenter's last (a Redis failover lost its write): replayed",
)
