"""Debian's apertium pairs: rule-based, offline, no download (apt-get install apertium-eng-spa).

Running `apertium eng-spa` per caption costs ~0.4 s, almost all of it loading a dozen
transducers. Instead each pair runs once as a warm pipeline of its mode's programs, each with
`-z` (flush at a NUL): a caption then takes a few milliseconds. The text is sent the way
apertium-destxt would frame a line (special characters escaped, a `[][\\n]` superblank at the
end: without it the bilingual lt-proc waits for more input).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import threading
from pathlib import Path

from parley_common.routes import EngineInfo

from parley_translate.engines.base import TranslationError
from parley_translate.langcodes import APERTIUM, from_apertium

log = logging.getLogger("parley.translate.apertium")
MODES_DIR = Path("/usr/share/apertium/modes")  # Debian's; TranslateSettings.apertium_modes
_SPECIAL = re.compile(r"([\\^$@/<>{}\[\]])")  # what apertium-destxt escapes
_UNESCAPE = re.compile(r"\\(.)")
_SUPERBLANK = re.compile(r"(?<!\\)\[[^\]]*\]")
_PAIR_MODE = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})$")  # eng-spa, en-gl (not variants: eng-cat_valencia)
END = "[][\n]"
TIMEOUT_S = 10.0


def pipeline_command(mode_file: Path) -> str:
    """The mode's shell pipeline with every program told to flush at NUL, unknown words unmarked."""
    stages = []
    for stage in mode_file.read_text().strip().split("|"):
        argv = [a for a in shlex.split(stage.replace("$1", "-n").replace("$2", "")) if a]
        stages.append(shlex.join([argv[0], "-z", *argv[1:]]))
    return " | ".join(stages)


def frame(text: str) -> bytes:
    # Like apertium-destxt: escapes, then a "." (which the reformatter drops again) and the superblank.
    return (_SPECIAL.sub(r"\\\1", " ".join(text.split())) + "." + END + "\0").encode()


def unframe(raw: bytes) -> str:
    text = raw.decode(errors="replace").rstrip("\0")
    text = text.removesuffix(END).removesuffix(".")
    return " ".join(_UNESCAPE.sub(r"\1", _SUPERBLANK.sub("", text)).split())


class WarmPipeline:
    def __init__(self, command: str) -> None:
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                ["bash", "-c", self.command],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: close() ends every stage
            )
        return self.proc

    def translate(self, text: str) -> str:
        with self.lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(frame(text))
                proc.stdin.flush()
                out = b""
                while not out.endswith(b"\0"):
                    ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT_S)
                    chunk = os.read(proc.stdout.fileno(), 65536) if ready else b""
                    if not chunk:
                        raise TranslationError("apertium pipeline stopped answering")
                    out += chunk
            except (OSError, TranslationError):
                self.close()  # the next call starts a fresh pipeline
                raise
            return unframe(out)

    def close(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None


class ApertiumEngine:
    name = "apertium"

    def __init__(self, modes_dir: Path = MODES_DIR) -> None:
        self.modes_dir = modes_dir
        self.available = shutil.which("lt-proc") is not None
        self.modes = {p.stem for p in modes_dir.glob("*.mode")} if modes_dir.is_dir() else set()
        self._pipelines: dict[str, WarmPipeline] = {}

    def _mode(self, source: str, target: str) -> str | None:
        s3, t3 = APERTIUM.get(source, source), APERTIUM.get(target, target)
        for mode in (f"{s3}-{t3}", f"{source}-{target}", f"{s3}-{target}", f"{source}-{t3}"):
            if mode in self.modes:
                return mode
        return None

    def supports(self, source: str, target: str) -> bool:
        return self.available and self._mode(source, target) is not None

    def info(self) -> EngineInfo:
        pairs: set[str] = set()
        for mode in self.modes if self.available else ():
            if m := _PAIR_MODE.match(mode):
                pairs |= {
                    f"{s}-{t}"
                    for s in from_apertium(m[1])
                    for t in from_apertium(m[2])
                    if s != t and self._mode(s, t) == mode
                }
        return EngineInfo(name=self.name, kind="text", pairs=sorted(pairs))

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        mode = self._mode(source, target)
        if not self.available or mode is None:
            raise TranslationError(f"no apertium pair for {source}->{target}")
        pipe = self._pipelines.get(mode)
        if pipe is None:
            pipe = self._pipelines[mode] = WarmPipeline(pipeline_command(self.modes_dir / f"{mode}.mode"))
        return [pipe.translate(t) for t in texts]

    def close(self) -> None:
        for pipe in self._pipelines.values():
            pipe.close()
