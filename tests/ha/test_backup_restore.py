"""`make restore-check` (scripts/restore_check.py) passes: the stack's backup job and restore script
bring every transcript back whole after the database was dropped, and refuse a truncated dump."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.load.postgres import pg_ready

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(pg_ready() is not None, reason=pg_ready() or "")


def test_backup_drop_restore_keeps_every_transcript_whole() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "restore_check.py"), "--finals", "60"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(done.stdout, done.stderr)
    assert done.returncode == 0, done.stderr
    assert "every transcript whole" in done.stdout
