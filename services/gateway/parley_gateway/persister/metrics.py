"""Prometheus metrics of the persister."""

from prometheus_client import Counter

STORED = Counter("parley_persister_stored_total", "Finals upserted into Postgres", ["kind"])
SKIPPED = Counter("parley_persister_skipped_total", "Entries acknowledged without a write", ["reason"])
BAD_INPUT = Counter("parley_persister_bad_input_total", "Malformed persist entries", ["reason"])
DB_ERRORS = Counter("parley_persister_db_errors_total", "Batches not committed (retried later)")
for _label in ("partial", "retraction", "sfu_event"):  # known label values: a series each from the start
    SKIPPED.labels(_label)
for _label in ("source", "translation"):
    STORED.labels(_label)
