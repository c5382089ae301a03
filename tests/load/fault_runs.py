"""A meeting through the real SFU and services (bench/load's local stack) with faults injected."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from parley_common import keys
from parley_common.redisconn import connect_sync

from bench.load.__main__ import Session, parse_args
from bench.load.audio import encoded_clips
from bench.load.faults import Faults
from bench.load.scenario import Scenario

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "logs"


async def meeting_with_faults(
    name: str, meeting: Scenario, plan: tuple[tuple[float, str], ...], redis_ha: bool = False
) -> dict[str, Any]:
    """Runs `meeting` on a fresh local stack (one STT replica, full window; Redis with a replica and
    sentinels if `redis_ha`) while `plan` (seconds into the speech, "kill <service>" |
    "kill redis-master" | "restart redis") happens; the scenario's result."""
    args = parse_args(["--log-dir", str(ARTIFACTS / name), "--sample-s", "10"])
    clips = encoded_clips(args.audio_dir)
    async with Session(args, clips, "full", 1, redis_ha=redis_ha) as s:
        assert s.stack is not None
        logs = s.stack.log_dir
        before = {f: f.stat().st_size for f in logs.glob("*.log")}  # the files are appended to
        res = await s.run(meeting, Faults(s.stack, plan=plan))
        if (res["lost_finals"] or res["duplicate_finals"]) and s.stack.redis is not None:
            print("\n".join(res["lost_clips"] + utterance_states(s.stack.redis.url)))
    if res["lost_finals"] or res["duplicate_finals"] or res["service_exits"]:
        # CI keeps only this test's output: what the services said about the run goes into it.
        print("\n".join(notable_lines(logs, before)))
    return res


def utterance_states(redis_url: str) -> list[str]:
    """Each utterance's protocol state (parley_common.publish), a decoded result as its text, and
    the finals in the caption and persist streams: where a lost final stopped."""
    r = connect_sync(redis_url)
    out = []
    for key in sorted(r.scan_iter(keys.utterance_state("*"))):
        fields = {k.decode(): v.decode(errors="replace") for k, v in r.hgetall(key).items()}
        for k, v in fields.items():
            if k.startswith("result:"):
                fields[k] = json.loads(v)["text"][:40]
        out.append(f"{key.decode()} {fields}")
    for stream in [k.decode() for k in r.scan_iter(keys.captions_stream("*"))] + [keys.PERSIST_CAPTIONS]:
        finals = []
        for eid, entry in r.xrange(stream):
            c = json.loads(entry[b"data"])
            if c.get("type") == "final":
                finals.append(f"{eid.decode()}={c['id'].split('/', 1)[-1]}:{c['lang']}")
        out.append(f"{stream} finals: {' '.join(finals)}")
    for stream in (keys.STT_JOBS_FINAL, keys.TRANSLATE_JOBS_FINAL, keys.PERSIST_CAPTIONS):
        if r.exists(stream):
            groups = [{k: str(v)[:60] for k, v in g.items()} for g in r.xinfo_groups(stream)]
            out.append(f"{stream}: {r.xlen(stream)} entries, groups {groups}")
    r.close()
    return out


# With a traceback's lines: a process that exited says why ("  File ...", "SomeError: ...").
NOTABLE = re.compile(
    r"WARNING|ERROR|CRITICAL|Traceback|^\s+File |^\w+(\.\w+)*(Error|Exception|Group)\b|withheld|stalled|dead|took over|lease|decoded|segmenting"
)


def notable_lines(log_dir: Path, offsets: dict[Path, int], most: int = 120) -> list[str]:
    """The services' log lines of one run (past `offsets`) that tell where a final went."""
    out: list[str] = []
    for f in sorted(log_dir.glob("*.log")):
        with f.open("rb") as fh:
            fh.seek(offsets.get(f, 0))
            lines = [ln for ln in fh.read().decode(errors="replace").splitlines() if NOTABLE.search(ln)]
        out += [f"[{f.stem}] {ln[:300]}" for ln in lines[-most:]]
    return out


def assert_nothing_lost(res: dict[str, Any], faults: list[str]) -> None:
    """The faults happened, no service died by itself, and no audio, final or frame was lost or
    doubled: the invariants of every fault scenario of issue 15."""
    keys = ("lost_finals", "duplicate_finals", "lost_audio_ms", "duplicate_frames", "recovery_s")
    print({k: res[k] for k in keys}, res["fault_recovery"], res["counters"], res["audio_gaps"])
    assert [f["fault"] for f in res["fault_recovery"]] == faults
    assert res["service_exits"] == [], res["service_exits"]
    assert res["audio_frames"] > 2 * 30 * 50  # the speakers' streams were audited
    assert res["lost_audio_ms"] == 0, res["audio_gaps"]
    assert res["duplicate_frames"] == 0
    assert res["counters"]["ingest_rtp_dropped_redis_error"] == 0, res["counters"]
    assert res["lost_finals"] == 0, res
    assert res["duplicate_finals"] == 0, res
    assert res["utterances"] >= 8
    # the listeners consumed every speaker over the SFU all along (plain RTP receive transports)
    assert res["listener_media_ratio"] >= 0.95, res["listener_media_ratio"]
