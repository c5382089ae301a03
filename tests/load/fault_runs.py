"""A meeting through the real SFU and services (bench/load's local stack) with faults injected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.load.__main__ import Session, parse_args
from bench.load.audio import encoded_clips
from bench.load.faults import Faults
from bench.load.scenario import Scenario

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "logs"


async def meeting_with_faults(
    name: str, meeting: Scenario, plan: tuple[tuple[float, str], ...]
) -> dict[str, Any]:
    """Runs `meeting` on a fresh local stack (one STT replica, full window) while `plan` (seconds
    into the speech, "kill <service>" | "restart redis") happens; the scenario's result."""
    args = parse_args(["--log-dir", str(ARTIFACTS / name), "--sample-s", "10"])
    clips = encoded_clips(args.audio_dir)
    async with Session(args, clips, "full", 1) as s:
        assert s.stack is not None
        return await s.run(meeting, Faults(s.stack, plan=plan))
