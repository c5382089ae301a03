"""Streaming Silero VAD (the ONNX model bundled with faster-whisper) whose state can be saved.

faster-whisper's own wrapper runs a whole clip at once; here windows arrive a few at a time, and
the LSTM state and context travel with the speaker's checkpoint so any replica can resume it.
"""

from __future__ import annotations

import base64
import functools
import os

import numpy as np
import onnxruntime

WINDOW = 512  # samples at 16 kHz = 32 ms, the model's native window
CONTEXT = 64


@functools.lru_cache(maxsize=1)
def _session() -> onnxruntime.InferenceSession:
    from faster_whisper.utils import get_assets_path

    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 4
    path = os.path.join(get_assets_path(), "silero_vad_v6.onnx")
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)


class StreamingVad:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.h = np.zeros((1, 1, 128), dtype=np.float32)
        self.c = np.zeros((1, 1, 128), dtype=np.float32)
        self.context = np.zeros(CONTEXT, dtype=np.float32)

    def probs(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability of each 512-sample window of `audio` (float32, length a multiple of 512)."""
        n = len(audio) // WINDOW
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        windows = audio[: n * WINDOW].reshape(n, WINDOW)
        contexts = np.vstack([self.context[None, :], windows[:-1, -CONTEXT:]])
        batch = np.concatenate([contexts, windows], axis=1).astype(np.float32)
        out, self.h, self.c = _session().run(None, {"input": batch, "h": self.h, "c": self.c})
        self.context = windows[-1, -CONTEXT:].copy()
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def dump(self) -> str:
        blob = np.concatenate([self.h.ravel(), self.c.ravel(), self.context]).astype(np.float32).tobytes()
        return base64.b64encode(blob).decode()

    @classmethod
    def load(cls, state: str) -> StreamingVad:
        vad = cls()
        if state:
            arr = np.frombuffer(base64.b64decode(state), dtype=np.float32)
            vad.h = arr[:128].reshape(1, 1, 128).copy()
            vad.c = arr[128:256].reshape(1, 1, 128).copy()
            vad.context = arr[256:].copy()
        return vad
