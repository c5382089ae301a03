"""The gateway's RTP side: Opus RTP from the SFU's PlainTransports → 16 kHz frames in Redis.

packet (parse), opus (libopus via ctypes), jitter (reorder ≤ 40 ms), stream (one SSRC: loss,
DTX, timestamps → frames), registry (`sfu:events` → SSRC map), receiver (the UDP socket and
the Redis writer).
"""
