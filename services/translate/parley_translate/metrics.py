"""Prometheus metrics of the translate service."""

from prometheus_client import Counter, Histogram

JOB_SECONDS = Histogram(
    "parley_translate_job_seconds",
    "Source caption published to translation published",
    ["kind"],
    buckets=(0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0),
)
TRANSLATIONS = Counter(
    "parley_translate_translations_total", "Translations by engine and outcome", ["engine", "outcome"]
)
DROPPED_PARTIALS = Counter("parley_translate_dropped_partials_total", "Partial translations skipped as stale")
BAD_INPUT = Counter("parley_translate_bad_input_total", "Malformed translation jobs", ["reason"])
BACKFILLED = Counter(
    "parley_translate_backfill_total", "Earlier finals translated for a language switch", ["outcome"]
)
