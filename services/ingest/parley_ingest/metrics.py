"""Prometheus metrics of the RTP ingest."""

from prometheus_client import Counter, Gauge, Histogram

DROPPED = Counter(
    "parley_ingest_rtp_dropped_total", "RTP datagrams or frames dropped by the ingest", ["reason"]
)
PACKETS = Counter("parley_ingest_rtp_packets_total", "RTP packets accepted from the SFU")
CONCEALED = Counter(
    "parley_ingest_rtp_concealed_seconds_total",
    "Audio made up for missing packets (fec, plc) or DTX/timestamp gaps (silence)",
    ["kind"],
)
TO_REDIS_SECONDS = Histogram(
    "parley_ingest_rtp_to_redis_seconds",
    "RTP packet arrival to its audio frame appended in Redis",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0),
)
for _kind in ("fec", "plc", "silence"):  # a series each from the start: the panel reads 0, not nothing
    CONCEALED.labels(_kind)
PRODUCERS = Gauge("parley_ingest_producers", "Audio producers the ingest is receiving (from sfu:events)")
QUEUE = Gauge("parley_ingest_queue_items", "Frames and events waiting for the Redis writer")
FRAMES = Counter(
    "parley_ingest_frames_total",
    "Audio frames written to Redis (appended), or refused because another replica had appended them first"
    " (duplicate)",
    ["outcome"],
)
MADE_UP = Counter(
    "parley_ingest_made_up_frames_total",
    "Frames made up for packets this replica lost, while another replica may have received them:"
    " refused (a peer appended the real audio first) or appended (none did within PARLEY_INGEST_FILL_WAIT_MS)",
    ["outcome"],
)
