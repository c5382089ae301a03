"""A 3-minute meeting through the real SFU, gateway, STT and translation (`make soak` runs the
30-minute one): 6 users, 2 speaking in turns over plain-RTP ingest, everyone on the caption socket.
Every utterance yields exactly one final at every listener; nobody is disconnected."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.load.__main__ import Session, parse_args, scenarios
from bench.load.audio import encoded_clips
from bench.load.stack import sfu_ready

pytestmark = pytest.mark.skipif(sfu_ready() is not None, reason=sfu_ready() or "")
MINUTES = float(os.environ.get("PARLEY_SOAK_TEST_MIN", "3"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "logs" / "load"


@pytest.mark.slow
@pytest.mark.timeout(int(MINUTES * 60) + 420)
async def test_three_minute_meeting_loses_and_duplicates_nothing() -> None:
    args = parse_args(["--scenarios", "soak", "--log-dir", str(ARTIFACTS), "--sample-s", "10"])
    clips = encoded_clips(args.audio_dir)
    async with Session(args, clips, "full", 1) as s:
        res = await s.run(scenarios(1.0, MINUTES)["soak"])
    print({k: res[k] for k in ("utterances", "e2e_final_p50_s", "e2e_final_p95_s", "e2e_drift_s")})
    assert res["utterances"] >= MINUTES * 60 / 8, res["utterances"]  # turns really happened
    assert res["listener_finals_expected"] == 6 * res["utterances"]
    assert res["lost_finals"] == 0, res
    assert res["duplicate_finals"] == 0, res
    assert res["caption_disconnects"] == 0 and res["signalling_disconnects"] == 0, res
    # the audio went through the SFU to the gateway: nearly every packet sent was accepted
    assert res["counters"]["ingest_rtp_packets"] >= 0.98 * res["rtp_packets_sent"], res["counters"]
