"""What each test file needs: its tiers (tests/conftest.py marks every test with them)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "redis", "model", "media", "browser", "deploy")

NEEDS: dict[str, tuple[str, ...]] = {
    "unit": ("unit",),
    "api": ("redis",),
    "pipeline": ("redis", "model"),
    "pipeline/test_streams_newest.py": ("unit",),
    "pipeline/test_segmentation.py": ("model",),
    "pipeline/test_lanes.py": ("redis",),
    "pipeline/test_dispatch.py": ("redis",),
    "pipeline/test_streams_backlog.py": ("redis",),
    "pipeline/test_utterance_protocol.py": ("redis",),
    "translate": ("model",),
    "media": ("media", "redis"),
    "media/test_rtp_unit.py": ("unit",),
    "load": ("media", "model", "redis"),
    "load/test_analyse.py": ("unit",),
    "load/test_checkpoint.py": ("redis", "model"),
    "security": ("redis",),
    "security/test_sfu_": ("media", "redis"),
    "security/test_gateway_secrets.py": ("redis",),
    "security/test_redis_acl.py": ("model", "redis"),  # the real STT and translate under the ACL
    "security/test_stack_hardening.py": ("unit",),  # reads stack files only
    "security/test_proxy_logs.py": ("deploy",),  # the real Caddy in a network namespace
    "browser": ("browser", "media", "model", "redis"),
    "deploy": ("deploy",),
    "deploy/test_dashboard_queries.py": ("deploy", "model", "redis"),
    "deploy/test_rehearsal.py": ("deploy", "media", "model", "redis"),
    "deploy/test_turn_relay.py": ("deploy", "browser", "media"),
    "deploy/test_dependencies.py": ("unit",),
    "deploy/test_remote_worker.py": ("deploy", "model", "redis"),
    "deploy/test_rehearsal_failover.py": ("deploy", "media", "model", "redis"),
    # Redis/Postgres as the stack runs them (a replica, sentinels, a cluster of our own): issue 15
    "ha": ("redis",),
    "ha/test_sentinel.py": ("redis",),
    "ha/test_ingest_failover.py": ("redis", "media"),
    "ha/test_postgres_outage.py": ("redis", "deploy"),  # a Postgres cluster run as its own user
    "ha/test_backup_restore.py": ("deploy",),
}


def needs(path: Path) -> tuple[str, ...]:
    """The tiers of a test file: its most specific entry in NEEDS (a file, a `prefix_`, a folder)."""
    rel = path.resolve().relative_to(TESTS).as_posix()
    keys = [k for k in NEEDS if rel == k or rel.startswith(k if k.endswith("_") else k + "/")]
    return NEEDS[max(keys, key=len)] if keys else ()
