"""Shared pieces of every Parley service: message schemas, settings base, Redis stream helpers."""

SCHEMA_VERSION = "1"
