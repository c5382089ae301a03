"""Prometheus metrics of the persister."""

from prometheus_client import Counter, Gauge

STORED = Counter("parley_persister_stored_total", "Finals upserted into Postgres", ["kind"])
SKIPPED = Counter("parley_persister_skipped_total", "Entries acknowledged without a write", ["reason"])
BAD_INPUT = Counter("parley_persister_bad_input_total", "Malformed persist entries", ["reason"])
DB_ERRORS = Counter("parley_persister_db_errors_total", "Batches not committed (retried later)")
DB_UP = Gauge("parley_persister_database_up", "1 while Postgres answers; 0 while the persister waits for it")
PENDING_RETRIED = Counter(
    "parley_persister_pending_retried_total",
    "Entries stored after Postgres came back (read while it was away)",
)
for _label in ("partial", "retraction", "sfu_event"):  # known label values: a series each from the start
    SKIPPED.labels(_label)
for _label in ("source", "translation"):
    STORED.labels(_label)
