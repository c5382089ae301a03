"""tests/ha run Redis as the stack does (bench/load/redis_ha.py: master, replica, three sentinels)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # `bench.load`, and bench/pipeline.py it imports
