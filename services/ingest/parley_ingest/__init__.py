"""parley-ingest: Opus RTP from the SFU's PlainTransports → 16 kHz frames in Redis, as its own process.

packet (parse), opus (libopus via ctypes), jitter (reorder ≤ 40 ms), stream (one SSRC: loss,
DTX, timestamps → frames), registry (`sfu:events` → SSRC map), receiver (the UDP socket and
the Redis writer), bind (which local address the RTP socket takes), settings, __main__ (wiring).
It shares no event loop with caption fan-out or the admin API (those stay in parley-gateway).
"""
