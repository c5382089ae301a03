"""Where a service's CPU goes under load: py-spy samples the running process (no restart, no code
change) and the stacks are summed by the innermost Parley frame (what our code was doing) and,
within it, the innermost frame (the library doing the work)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


def py_spy() -> str | None:
    found = Path(sys.executable).with_name("py-spy")
    return str(found) if found.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, out: Path, rate: int = 50) -> subprocess.Popen[bytes] | None:
    """Start sampling `pid` for `seconds` into `out` (collapsed stacks); None without py-spy."""
    exe = py_spy()
    if exe is None:
        return None
    cmd = [exe, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", str(rate), "--nonblocking"]
    cmd += ["-f", "raw", "-o", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(out.with_suffix(".log"), "wb"))


def _frame_file(frame: str) -> str:
    return frame[frame.rfind("(") + 1 : frame.rfind(":")] if "(" in frame else frame


def summarise(path: Path, seconds: float, rate: int = 50, top: int = 8) -> dict[str, object]:
    """The `top` (Parley frame, innermost frame) pairs by share of the non-idle samples, and how
    busy the Python threads were (non-idle samples per expected sample: ~cores). Work in native
    threads that are not Python threads (CTranslate2's and onnxruntime's pools) is not sampled:
    compare with the process's CPU time."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")
        ours = next((f for f in reversed(frames) if "parley_" in _frame_file(f)), "(outside parley code)")
        counts[(ours, frames[-1])] += int(n)
    total = sum(counts.values())
    return {
        "python_busy": round(total / (seconds * rate), 3),
        "top": [
            {"share": round(n / max(total, 1), 3), "parley_frame": ours, "innermost": leaf}
            for (ours, leaf), n in counts.most_common(top)
        ],
    }
