"""RTP ingest units with real Opus packets: parsing, the jitter buffer, loss, DTX, the media
timeline (two replicas cut the same frames), and sfu:events parsing."""

from __future__ import annotations

import numpy as np
import pytest
from parley_ingest.anchor import Anchor
from parley_ingest.jitter import JitterBuffer
from parley_ingest.opus import OpusEncoder
from parley_ingest.packet import MAX_DATAGRAM, RtpError, build_rtp, is_rtcp, parse_rtp, unwrap
from parley_ingest.registry import parse_event
from parley_ingest.stream import FRAME_BYTES, SsrcStream
from rtp_helpers import CLIP, opus_packets, read_pcm48k, rtp_stream

SSRC = 0x1234ABCD


@pytest.fixture(scope="module")
def payloads() -> list[bytes]:
    return opus_packets(read_pcm48k(CLIP, seconds=3.0))


def test_parse_full_header() -> None:
    csrc = (7).to_bytes(4, "big") + (8).to_bytes(4, "big")
    ext = b"\xbe\xde\x00\x01" + b"\x10\xaa\x00\x00"
    payload = b"\x78opus-data"
    pad = b"\x00\x00\x03"
    data = bytes([0x80 | 0x20 | 0x10 | 2, 0x80 | 111]) + b"\x12\x34" + b"\x00\x00\x01\x00"
    data += SSRC.to_bytes(4, "big") + csrc + ext + payload + pad
    p = parse_rtp(data)
    assert (p.pt, p.seq, p.timestamp, p.ssrc, p.marker, p.payload) == (111, 0x1234, 256, SSRC, True, payload)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated"),
        (b"\x80\x64\x00\x01", "truncated"),
        (bytes([0x40, 100]) + bytes(20), "bad_version"),
        (bytes([0x8F, 100]) + bytes(20), "truncated"),  # 15 CSRCs announced, 20 bytes present
        (bytes([0x90, 100]) + bytes(10) + b"\x00\x00\x00\x09" + bytes(4), "truncated"),  # extension too long
        (bytes([0xA0, 100]) + bytes(10) + b"\x01\x02\x50", "bad_padding"),
        (bytes([0xA0, 100]) + bytes(10) + b"\x01\x02\x00", "bad_padding"),
        (build_rtp(100, 1, 1, SSRC, b""), "empty_payload"),
        (build_rtp(100, 1, 1, SSRC, bytes(MAX_DATAGRAM)), "oversized"),
    ],
)
def test_parse_rejects(data: bytes, reason: str) -> None:
    with pytest.raises(RtpError) as exc:
        parse_rtp(data)
    assert exc.value.reason == reason


def test_rtcp_is_recognised() -> None:
    assert is_rtcp(bytes([0x80, 200]) + bytes(26))
    assert not is_rtcp(build_rtp(100, 1, 1, SSRC, b"x"))


def test_unwrap() -> None:
    assert unwrap(65535, 0, 16) == 65536
    assert unwrap(65536, 65535, 16) == 65535
    assert unwrap(2**32 - 10, 5, 32) == 2**32 + 5
    assert unwrap(100, 90, 16) == 90


def test_jitter_reorders_and_drops_late_and_duplicates(payloads: list[bytes]) -> None:
    pkts = [parse_rtp(p) for p in rtp_stream(payloads[:5], SSRC)]
    jb = JitterBuffer(0.04)
    got = [s.packet.seq for s in jb.push(pkts[0], 0.0)]
    assert jb.push(pkts[2], 0.02) == []  # held: 1 is missing
    got += [s.packet.seq for s in jb.push(pkts[1], 0.025)]
    assert got == [pkts[0].seq, pkts[1].seq, pkts[2].seq]
    with pytest.raises(RtpError, match="late"):
        jb.push(pkts[1], 0.03)
    assert jb.push(pkts[4], 0.04) == []
    with pytest.raises(RtpError, match="duplicate"):
        jb.push(pkts[4], 0.045)
    assert jb.expire(0.079) == []  # 39 ms: still waiting for 3
    assert [s.packet.seq for s in jb.expire(0.081)] == [pkts[4].seq]  # gave up on 3 after 40 ms


WALL0 = 1_700_000_000.0


def _anchored(packets: list[bytes]) -> SsrcStream:
    """A stream whose producer's timeline starts at the first packet (at WALL0)."""
    return SsrcStream(anchor=Anchor(parse_rtp(packets[0]).timestamp, int(WALL0 * 1000)))


def _feed(stream: SsrcStream, packets: list[bytes], order: list[int], ts0: int) -> list[tuple[int, bytes]]:
    """Push packets as they would arrive (each when its audio ended); (frame index, pcm) out."""
    out: list[tuple[int, bytes]] = []
    t = 0.0
    for i in order:
        pkt = parse_rtp(packets[i])
        t = max(t, ((pkt.timestamp - ts0) % 2**32) / 48000 + 0.02)
        out += [(f.index, f.pcm) for f in stream.push(pkt, t, WALL0 + t)]
        out += [(f.index, f.pcm) for f in stream.tick(t + 0.001, WALL0 + t)]
    return out


def _run(
    stream: SsrcStream, packets: list[bytes], order: list[int] | None = None
) -> list[tuple[float, bytes]]:
    """(frame time s, pcm) of a whole stream, finished at the end."""
    order = order if order is not None else list(range(len(packets)))
    assert stream.anchor is not None
    out = _feed(stream, packets, order, parse_rtp(packets[0]).timestamp)
    frames, _ = stream.finish()
    return [(stream.anchor.frame_ms(i) / 1000, pcm) for i, pcm in out + [(f.index, f.pcm) for f in frames]]


def _energy(pcm: bytes) -> float:
    a = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(a * a))) if len(a) else 0.0


def test_clean_stream_gives_contiguous_20ms_frames(payloads: list[bytes]) -> None:
    pkts = rtp_stream(payloads, SSRC)
    frames = _run(_anchored(pkts), pkts)
    assert len(frames) == len(payloads)
    assert all(len(pcm) == FRAME_BYTES for _, pcm in frames)
    steps = np.diff([ts for ts, _ in frames])
    assert np.allclose(steps, 0.02, atol=1e-5)
    assert _energy(b"".join(pcm for _, pcm in frames)) > 300  # speech, not silence


def test_reordered_stream_decodes_the_same(payloads: list[bytes]) -> None:
    pkts = rtp_stream(payloads, SSRC)
    order = list(range(len(pkts)))
    for i in range(10, len(order) - 1, 7):
        order[i], order[i + 1] = order[i + 1], order[i]
    a = _run(_anchored(pkts), pkts)
    b = _run(_anchored(pkts), pkts, order)
    assert [pcm for _, pcm in a] == [pcm for _, pcm in b]
    assert np.allclose([ts for ts, _ in a], [ts for ts, _ in b])


def test_loss_is_concealed_without_a_time_gap(payloads: list[bytes]) -> None:
    pkts = rtp_stream(payloads, SSRC)
    lost = {20, 40, 41, 60, 61, 62}
    frames = _run(_anchored(pkts), [p for i, p in enumerate(pkts) if i not in lost])
    assert len(frames) == len(pkts)  # concealed frames stand in for the lost ones
    steps = np.diff([ts for ts, _ in frames])
    assert np.allclose(steps, 0.02, atol=1e-5)
    assert _energy(frames[20][1]) > 0  # FEC/PLC, not zeros


def test_dtx_gap_is_silence_frames(payloads: list[bytes]) -> None:
    pkts = [parse_rtp(p) for p in rtp_stream(payloads[:20], SSRC)]
    # seq contiguous, timestamp jumps 1 s: the sender sent nothing (DTX) for a second.
    shifted = [
        build_rtp(p.pt, p.seq, p.timestamp + (48000 if i >= 10 else 0), p.ssrc, p.payload)
        for i, p in enumerate(pkts)
    ]
    frames = _run(_anchored(shifted), shifted)
    assert len(frames) == 20 + 50
    assert all(_energy(pcm) == 0 for _, pcm in frames[10:60])
    assert np.allclose(np.diff([ts for ts, _ in frames]), 0.02, atol=1e-5)


def test_only_frames_made_up_for_lost_packets_are_marked(payloads: list[bytes]) -> None:
    """Concealment (PLC, FEC, silence) for lost packets is marked `made_up`: another replica may
    have the real audio (the writer lets it go first). DTX silence is not: every replica sees it."""
    pkts = rtp_stream(payloads, SSRC)
    lost = {20, 40, 41}
    stream, t0 = _anchored(pkts), parse_rtp(pkts[0]).timestamp
    frames = []
    for i, raw in enumerate(pkts):
        if i not in lost:
            pkt = parse_rtp(raw)
            t = ((pkt.timestamp - t0) % 2**32) / 48000 + 0.02
            frames += stream.push(pkt, t, WALL0 + t) + stream.tick(t + 0.001, WALL0 + t)
    frames += stream.finish()[0]
    assert len(frames) == len(pkts)
    assert [f.index - frames[0].index for f in frames if f.made_up] == sorted(lost)
    dtx = [parse_rtp(p) for p in rtp_stream(payloads[:20], SSRC)]
    shifted = [
        build_rtp(p.pt, p.seq, p.timestamp + (48000 if i >= 10 else 0), p.ssrc, p.payload)
        for i, p in enumerate(dtx)
    ]
    stream = _anchored(shifted)
    out = [f for i, raw in enumerate(shifted) for f in stream.push(parse_rtp(raw), 0.02 * i, WALL0)]
    assert len(out) >= 60 and not any(f.made_up for f in out)


def test_bad_opus_payload_is_rejected() -> None:
    with pytest.raises(RtpError, match="bad_opus"):
        SsrcStream().push(parse_rtp(build_rtp(100, 1, 1, SSRC, b"\xff\xff\xff\xff\xff")), 0.0)


def test_parse_event() -> None:
    ev = parse_event(
        {
            b"v": b"1",
            b"type": b"producer.open",
            b"room": b"demo",
            b"peer": b"p-1",
            b"name": b"Ana",
            b"producer": b"abc",
            b"ssrc": b"1234",
            b"pt": b"100",
            b"clock_rate": b"48000",
            b"ts": b"1",
        }
    )
    assert (ev.type, ev.producer.room, ev.producer.peer, ev.producer.ssrcs, ev.producer.pt) == (
        "producer.open",
        "demo",
        "p-1",
        (1234,),
        100,
    )
    with pytest.raises(ValueError):
        parse_event(
            {
                b"v": b"1",
                b"type": b"producer.open",
                b"room": b"../x",
                b"peer": b"p",
                b"ssrc": b"1",
                b"pt": b"1",
            }
        )


EVENT = {
    b"v": b"1",
    b"type": b"producer.open",
    b"room": b"demo",
    b"peer": b"p-1",
    b"producer": b"0f1e-2d3c",
    b"ssrc": b"11",
    b"pt": b"100",
}


def test_parse_event_takes_one_ssrc_per_ingest_target() -> None:
    assert parse_event({**EVENT, b"ssrcs": b"11,22"}).producer.ssrcs == (11, 22)
    assert parse_event({**EVENT, b"ssrcs": b"11,11"}).producer.ssrcs == (11,)
    for bad in (
        {b"ssrcs": b"11,x"},
        {b"ssrcs": b"0"},
        {b"ssrcs": str(2**32).encode()},
        {b"ssrcs": ",".join(str(i) for i in range(1, 10)).encode()},
        {b"producer": b"../../etc"},
        {b"producer": b""},
    ):
        with pytest.raises(ValueError):
            parse_event({**EVENT, **bad})


def _packets_10ms(seconds: float, ssrc: int, seq0: int, ts0: int) -> list[bytes]:
    """10 ms Opus packets: a replica that joins at an odd packet starts in the middle of a frame."""
    enc = OpusEncoder(48000, fec=True)
    pcm = read_pcm48k(CLIP, seconds)
    pcm += bytes(-len(pcm) % 960)
    payloads = [enc.encode(pcm[i : i + 960]) for i in range(0, len(pcm), 960)]
    return [
        build_rtp(100, (seq0 + i) & 0xFFFF, (ts0 + 480 * i) % 2**32, ssrc, p) for i, p in enumerate(payloads)
    ]


def test_two_replicas_cut_the_same_frames_whenever_they_join() -> None:
    """One producer sent to two ingest replicas (different SSRCs and sequence numbers, the same
    RTP timestamps): frame k is the same 20 ms of the timeline on both, whoever joined when."""
    ts0 = 2**32 - 48000  # wraps one second in
    a_pkts = _packets_10ms(3.0, 0xA, 100, ts0)
    b_pkts = _packets_10ms(3.0, 0xB, 61000, ts0)  # its sequence wraps too
    anchor = Anchor(ts0, int(WALL0 * 1000))
    a = SsrcStream(anchor=anchor)
    b = SsrcStream(anchor=anchor)
    out_a = _feed(a, a_pkts, list(range(len(a_pkts))), ts0)
    out_b = _feed(b, b_pkts, list(range(7, len(b_pkts))), ts0)  # joins at 70 ms: mid-frame 3
    idx_a = [i for i, _ in out_a]
    idx_b = [i for i, _ in out_b]
    assert idx_a == list(range(len(a_pkts) // 2))
    assert idx_b == list(range(4, len(a_pkts) // 2)), idx_b[:3]  # skipped to the next boundary
    # The same words in the same frames: after the joiner's decoder settles, the audio matches.
    pa, pb = dict(out_a), dict(out_b)
    x = np.frombuffer(b"".join(pa[i] for i in idx_b[10:]), dtype="<i2").astype(np.float64)
    y = np.frombuffer(b"".join(pb[i] for i in idx_b[10:]), dtype="<i2").astype(np.float64)
    assert np.corrcoef(x, y)[0, 1] > 0.99


def test_a_late_replica_finds_its_place_by_the_wall_clock_across_wraps() -> None:
    anchor = Anchor(2**32 - 1000, 1_700_000_000_000)
    hours = 30 * 3600  # the 32-bit RTP clock wraps every 24.9 h at 48 kHz
    ts = (anchor.rtp + hours * 48000) % 2**32
    assert anchor.ticks(ts, anchor.wall_ms / 1000 + hours + 0.3) == hours * 48000
    assert anchor.ticks((anchor.rtp - 960) % 2**32, anchor.wall_ms / 1000) == -960  # reordered
    assert anchor.frame_ms(3) == anchor.wall_ms + 60


def test_finish_names_the_last_frame_and_resumes_on_the_timeline(payloads: list[bytes]) -> None:
    pkts = rtp_stream(payloads[:30], SSRC)
    stream = _anchored(pkts)
    ts0 = parse_rtp(pkts[0]).timestamp
    out = _feed(stream, pkts, list(range(10)), ts0)
    frames, last = stream.finish()
    assert [i for i, _ in out + [(f.index, f.pcm) for f in frames]] == list(range(10))
    assert last == 9
    assert stream.finish() == ([], None)  # nothing since: no second end
    # Unmuted after 200 ms (packets 20..29): its frames sit 20 frames later on the same timeline.
    out = _feed(stream, pkts, list(range(20, 30)), ts0)
    assert [i for i, _ in out] == list(range(20, 30))
