"""Prometheus metrics of the gateway."""

from parley_common.schemas import CaptionType
from prometheus_client import Counter, Gauge, Histogram

E2E_BUCKETS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)

LISTENERS = Gauge("parley_gateway_listeners", "Connected caption listeners")
ROOMS = Gauge("parley_gateway_active_rooms", "Rooms with at least one listener on this gateway")
FANOUT_SECONDS = Histogram(
    "parley_gateway_fanout_seconds",
    "Caption published to sent on a listener's socket",
    buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
E2E_FINAL_SECONDS = Histogram(
    "parley_gateway_e2e_final_seconds",
    "End of speech to final caption sent to a listener",
    ["translated"],
    buckets=E2E_BUCKETS,
)
SENT = Counter("parley_gateway_captions_sent_total", "Caption events sent to listeners", ["type"])
DROPPED = Counter(
    "parley_gateway_captions_dropped_total", "Caption events not sent (slow listener)", ["type"]
)
BAD_INPUT = Counter("parley_gateway_bad_input_total", "Malformed client messages", ["reason"])

# Every label value known in advance has a series from the start (0 until it happens), so an alert
# or panel on it reads a number, not nothing.
for _type in CaptionType:
    SENT.labels(_type.value)
    DROPPED.labels(_type.value)
