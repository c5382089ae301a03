"""What the TURN-over-TLS relay costs a participant (issue 18), on the world of
tests/deploy/test_turn_tls.py: the edge (HAProxy) + Caddy 2.9 + coturn on a media-node namespace,
Ana's Chromium in a client namespace, Ben's on the media node, Ben speaking (LibriVox + a 660 Hz
tone), Ana sending a 440 Hz tone. The same browsers are measured twice, with UDP allowed (direct
path to the SFU) and with only TCP 443 allowed (relay over TLS through the edge and coturn):

- path RTT: the selected ICE pair's currentRoundTripTime of Ana's transports (to the SFU and back,
  through whatever relays it), sampled every second; the added one-way audio latency is half the
  difference of the medians;
- Ben's jitter buffer for Ana's audio (jitterBufferDelay / jitterBufferEmittedCount): what the
  receiving side adds to hide the path's jitter;
- captions: Ana's uplink is what the relay changes on the caption path (SFU -> ingest -> STT is the
  same), so captions of a relayed speaker arrive later by the added one-way uplink latency;
- relay CPU: coturn + HAProxy CPU seconds per second of wall time while Ana is relayed (one
  participant: one audio stream up, one down, two TLS connections), from /proc.

    sudo .venv/bin/python -m bench.relay_cost [--seconds 30]      (root: network namespaces)

Prints one JSON line. Loopback links: the figures are the relay's processing, not a network's."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for sub in ("tests/deploy", "tests/browser", "tests/media"):
    sys.path.insert(0, str(ROOT / sub))

SAMPLE = """
async () => {
  const out = [];
  for (const pc of window.__pcs.filter((p) => p.connectionState === 'connected')) {
    const stats = [...(await pc.getStats()).values()];
    const byId = Object.fromEntries(stats.map((s) => [s.id, s]));
    const t = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
    const pair = t ? byId[t.selectedCandidatePairId] : undefined;
    const inb = stats.filter((s) => s.type === 'inbound-rtp' && s.kind === 'audio');
    out.push({
      rtt: pair?.currentRoundTripTime ?? null,
      local: pair ? byId[pair.localCandidateId]?.candidateType : null,
      jbDelay: inb.reduce((n, s) => n + (s.jitterBufferDelay || 0), 0),
      jbEmitted: inb.reduce((n, s) => n + (s.jitterBufferEmittedCount || 0), 0),
    });
  }
  return out;
}
"""


def cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, clock ticks
    return total


def relay_pids() -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                comm = (d / "comm").read_text().strip()
            except OSError:
                continue
            if comm in ("turnserver", "haproxy") and str(ROOT) in (d / "cmdline").read_text(errors="replace"):
                pids.append(int(d.name))
    return pids


def measure(ana: Any, ben: Any, seconds: int, pids: list[int]) -> dict[str, Any]:
    rtts: list[float] = []
    ben0 = ben.evaluate(SAMPLE)
    cpu0, t0 = cpu_s(pids), time.monotonic()
    local = None
    for _ in range(seconds):
        time.sleep(1)
        for s in ana.evaluate(SAMPLE):
            local = s["local"]
            if s["rtt"] is not None:
                rtts.append(1000 * s["rtt"])
    cpu = (cpu_s(pids) - cpu0) / (time.monotonic() - t0)
    ben1 = ben.evaluate(SAMPLE)
    delay = sum(s["jbDelay"] for s in ben1) - sum(s["jbDelay"] for s in ben0)
    emitted = sum(s["jbEmitted"] for s in ben1) - sum(s["jbEmitted"] for s in ben0)
    return {
        "path": local,
        "rtt_ms_p50": round(statistics.median(rtts), 2),
        "rtt_ms_max": round(max(rtts), 2),
        "rtt_samples": len(rtts),
        "ben_jitter_buffer_ms": round(1000 * delay / emitted, 1) if emitted else None,
        "relay_cores": round(cpu, 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=30)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    from test_turn_tls import (
        ANA_HZ,
        BEN_HZ,
        DOMAIN,
        edge_world,
        hears,
        join,
        launch,
        media_pairs,
        speech_and_tone_wav,
        tone_wav,
    )

    tmp = Path(tempfile.mkdtemp(prefix="relay-cost-"))
    ana_wav = tone_wav(tmp / "ana.wav", ANA_HZ)
    ben_wav = speech_and_tone_wav(tmp / "ben.wav", BEN_HZ)
    result: dict[str, Any] = {"seconds": args.seconds}
    with edge_world() as world, sync_playwright() as pw:
        pids = relay_pids()
        room = "relay-cost"
        base = f"https://{DOMAIN}/rooms/{room}"
        ana_b = launch(pw, tmp, "ana", world.client.ns, ana_wav)
        ben_b = launch(pw, tmp, "ben", None, ben_wav)
        try:
            ana, ben = ana_b.new_page(), ben_b.new_page()
            join(ben, f"{base}#token={world.media.token(room, 'ben', 'Ben', 'guest')}")
            first = True
            for mode in ("direct", "tls_relay"):
                if mode == "direct":
                    world.client.open()
                else:
                    world.client.strict()
                    ana.goto("about:blank")
                join(ana, f"{base}#token={world.media.token(room, 'ana', 'Ana', 'guest')}", first=first)
                first = False
                hears(ben, ANA_HZ, f"Ben to hear Ana ({mode})")
                hears(ana, BEN_HZ, f"Ana to hear Ben ({mode})")
                print(mode, media_pairs(ana), file=sys.stderr)
                result[mode] = measure(ana, ben, args.seconds, pids)
        finally:
            ana_b.close()
            ben_b.close()
    d, r = result["direct"], result["tls_relay"]
    added = (r["rtt_ms_p50"] - d["rtt_ms_p50"]) / 2
    result["added_one_way_ms"] = round(added, 2)
    result["added_audio_latency_ms"] = round(
        added + ((r["ben_jitter_buffer_ms"] or 0) - (d["ben_jitter_buffer_ms"] or 0)), 1
    )
    result["added_caption_latency_ms"] = result["added_one_way_ms"]
    result["relay_cores_per_participant"] = round(r["relay_cores"] - d["relay_cores"], 4)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
