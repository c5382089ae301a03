"""The machine a benchmark ran on, for its JSON: figures are only comparable on the same CPU, and a
VM's "model name" is often generic ("Intel(R) Xeon(R) Processor"), so the family, model and the
vector/matrix extensions that decide Whisper's speed (AVX-512, VNNI, AMX) go with it."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

# The ISA flags that change what CTranslate2 and MKL/oneDNN can use (docs/architecture.md).
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16")


def cpu_summary(cpuinfo: str | None = None) -> dict[str, Any]:
    """{model, family, model_id, isa, cores, load_1m} from /proc/cpuinfo (`cpuinfo` for a test)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    first: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            if first:
                break  # the first processor's block is enough
            continue
        key, _, value = line.partition(":")
        first[key.strip()] = value.strip()
    flags = set(first.get("flags", "").split())
    return {
        "model": first.get("model name") or platform.processor(),
        "family": int(first["cpu family"]) if first.get("cpu family", "").isdigit() else None,
        "model_id": int(first["model"]) if first.get("model", "").isdigit() else None,
        "isa": [f for f in ISA_FLAGS if f in flags],
        "cores": os.cpu_count(),
        "load_1m": round(os.getloadavg()[0], 2),
    }
