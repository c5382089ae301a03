"""parley-ingest: Opus RTP from the SFU's PlainTransports → 16 kHz frames in Redis, as its own process.

packet (parse), opus (libopus via ctypes), jitter (reorder ≤ 40 ms), stream (one SSRC: loss,
DTX, timestamps → frames), anchor (each producer's media timeline, shared in Redis), registry
(`sfu:events` → SSRC map), receiver (the UDP socket), writer (the one Redis writer, replaying
after a failover), bind (which local address the RTP socket takes), settings, __main__ (wiring).
It shares no event loop with caption fan-out or the admin API (those stay in parley-gateway).
"""
