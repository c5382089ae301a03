"""libopus through ctypes (Debian's libopus0): a 16 kHz mono decoder, and an encoder for tests."""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

OPUS_APPLICATION_VOIP = 2048
OPUS_SET_BITRATE = 4002
OPUS_SET_INBAND_FEC = 4012
OPUS_SET_PACKET_LOSS_PERC = 4014
OPUS_SET_DTX = 4016
MAX_FRAME_MS = 120


class OpusError(RuntimeError):
    pass


@cache
def lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("opus") or "libopus.so.0"
    try:
        so = ctypes.CDLL(name)
    except OSError as exc:
        raise OpusError(f"libopus not found ({name}): apt-get install libopus0") from exc
    c_int, c_i32, c_p = ctypes.c_int, ctypes.c_int32, ctypes.c_void_p
    so.opus_decoder_create.argtypes = [c_i32, c_int, ctypes.POINTER(c_int)]
    so.opus_decoder_create.restype = c_p
    so.opus_decoder_destroy.argtypes = [c_p]
    so.opus_decode.argtypes = [c_p, ctypes.c_char_p, c_i32, ctypes.POINTER(ctypes.c_int16), c_int, c_int]
    so.opus_decode.restype = c_int
    so.opus_packet_get_nb_samples.argtypes = [ctypes.c_char_p, c_i32, c_i32]
    so.opus_packet_get_nb_samples.restype = c_int
    so.opus_encoder_create.argtypes = [c_i32, c_int, c_int, ctypes.POINTER(c_int)]
    so.opus_encoder_create.restype = c_p
    so.opus_encoder_destroy.argtypes = [c_p]
    so.opus_encode.argtypes = [c_p, ctypes.POINTER(ctypes.c_int16), c_int, ctypes.c_char_p, c_i32]
    so.opus_encode.restype = c_i32
    so.opus_strerror.argtypes = [c_int]
    so.opus_strerror.restype = ctypes.c_char_p
    return so


def _check(code: int) -> int:
    if code < 0:
        raise OpusError(lib().opus_strerror(code).decode())
    return code


class OpusDecoder:
    """Decodes straight to `rate` Hz mono (libopus resamples internally: no 48 k → 16 k step)."""

    def __init__(self, rate: int = 16000) -> None:
        self.rate = rate
        err = ctypes.c_int(0)
        self._dec = lib().opus_decoder_create(rate, 1, ctypes.byref(err))
        _check(err.value)
        self._max = rate * MAX_FRAME_MS // 1000
        self._buf = (ctypes.c_int16 * self._max)()

    def samples_in(self, payload: bytes) -> int:
        """Samples (at this decoder's rate) a packet decodes to; raises OpusError if it is invalid."""
        return _check(lib().opus_packet_get_nb_samples(payload, len(payload), self.rate))

    def decode(self, payload: bytes) -> bytes:
        n = _check(lib().opus_decode(self._dec, payload, len(payload), self._buf, self._max, 0))
        return bytes(self._buf)[: 2 * n]

    def decode_fec(self, payload: bytes, samples: int) -> bytes:
        """The previous (lost) frame from this packet's in-band FEC (PLC if it carries none)."""
        n = _check(lib().opus_decode(self._dec, payload, len(payload), self._buf, samples, 1))
        return bytes(self._buf)[: 2 * n]

    def conceal(self, samples: int) -> bytes:
        """Packet loss concealment for `samples` (a multiple of 2.5 ms)."""
        n = _check(lib().opus_decode(self._dec, None, 0, self._buf, min(samples, self._max), 0))
        return bytes(self._buf)[: 2 * n]

    def __del__(self) -> None:
        if getattr(self, "_dec", None):
            lib().opus_decoder_destroy(self._dec)
            self._dec = None


class OpusEncoder:
    """16-bit mono PCM → Opus packets (tests, the benchmark); in-band FEC on by default."""

    def __init__(self, rate: int = 48000, bitrate: int = 32000, fec: bool = True, dtx: bool = False) -> None:
        self.rate = rate
        err = ctypes.c_int(0)
        self._enc = lib().opus_encoder_create(rate, 1, OPUS_APPLICATION_VOIP, ctypes.byref(err))
        _check(err.value)
        ctl = lib().opus_encoder_ctl
        for request, value in (
            (OPUS_SET_BITRATE, bitrate),
            (OPUS_SET_INBAND_FEC, int(fec)),
            (OPUS_SET_PACKET_LOSS_PERC, 10 if fec else 0),
            (OPUS_SET_DTX, int(dtx)),
        ):
            _check(ctl(ctypes.c_void_p(self._enc), ctypes.c_int(request), ctypes.c_int(value)))
        self._out = ctypes.create_string_buffer(4000)

    def encode(self, pcm: bytes) -> bytes:
        samples = len(pcm) // 2
        buf = (ctypes.c_int16 * samples).from_buffer_copy(pcm)
        n = _check(lib().opus_encode(self._enc, buf, samples, self._out, len(self._out)))
        return self._out.raw[:n]

    def __del__(self) -> None:
        if getattr(self, "_enc", None):
            lib().opus_encoder_destroy(self._enc)
            self._enc = None
