"""Every test file has a tier (tests/conftest.py), so `pytest -m unit` and the other tiers cover all."""

from __future__ import annotations

from tiers import NEEDS, TESTS, TIERS, needs


def test_every_test_file_is_in_a_tier() -> None:
    files = sorted(TESTS.rglob("test_*.py"))
    assert len(files) > 40
    assert [f.relative_to(TESTS).as_posix() for f in files if not needs(f)] == []
    assert {t for tiers in NEEDS.values() for t in tiers} <= set(TIERS)


def test_the_most_specific_entry_wins() -> None:
    assert needs(TESTS / "pipeline" / "test_captions.py") == ("redis", "model")
    assert needs(TESTS / "pipeline" / "test_streams_newest.py") == ("unit",)
    assert needs(TESTS / "security" / "test_sfu_ports.py") == ("media", "redis")
    assert needs(TESTS / "security" / "test_gateway_logins.py") == ("redis",)
