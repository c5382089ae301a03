"""CPU, RSS and Redis memory of the services over a run (Linux /proc), and their Prometheus counters."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TICK_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK_S


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (all cores, /proc/stat), to see other load."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICK_S


@dataclass
class Sample:
    at: float
    cpu: dict[str, float]  # cumulative CPU s per service (a restarted process starts again from 0)
    rss: dict[str, float]
    redis_mb: float
    machine_busy: float = 0.0


@dataclass
class Sampler:
    """Every `interval` s: per service CPU and RSS (summed over its processes), Redis used memory."""

    pids: Callable[[], dict[str, list[int]]]
    redis_mb: Callable[[], float]
    interval: float = 5.0
    samples: list[Sample] = field(default_factory=list)
    _cpu_base: dict[int, float] = field(default_factory=dict)

    def sample(self) -> None:
        cpu: dict[str, float] = {}
        rss: dict[str, float] = {}
        for name, pids in self.pids().items():
            for pid in pids:
                with contextlib.suppress(OSError, IndexError, ValueError):
                    c = cpu_seconds(pid)
                    self._cpu_base.setdefault(pid, c)
                    cpu[name] = cpu.get(name, 0.0) + c - self._cpu_base[pid]
                    rss[name] = rss.get(name, 0.0) + rss_mb(pid)
        self.samples.append(Sample(time.time(), cpu, rss, self.redis_mb(), machine_busy_s()))

    async def run(self) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(self.interval)

    def report(self) -> dict[str, Any]:
        """Average cores used, peak RSS, and RSS growth (mean of the last fifth minus the first fifth)."""
        if len(self.samples) < 2:
            return {}
        first, last = self.samples[0], self.samples[-1]
        wall = last.at - first.at
        names = sorted({n for s in self.samples for n in s.rss})
        fifth = max(1, len(self.samples) // 5)

        def mean_rss(part: list[Sample], n: str) -> float:
            vals = [s.rss[n] for s in part if n in s.rss]
            return sum(vals) / len(vals) if vals else float("nan")

        redis = [s.redis_mb for s in self.samples if s.redis_mb == s.redis_mb]
        return {
            "cores": {n: round(_cpu_used(self.samples, n) / wall, 3) for n in names},
            # everything that ran (ours, the load generator's and anybody else's): a check on quiet
            "machine_cores_busy": round((last.machine_busy - first.machine_busy) / wall, 3),
            "machine_cores": os.cpu_count(),
            "peak_rss_mb": {n: round(max(s.rss.get(n, 0.0) for s in self.samples), 1) for n in names},
            "rss_growth_mb": {
                n: round(mean_rss(self.samples[-fifth:], n) - mean_rss(self.samples[:fifth], n), 1)
                for n in names
            },
            # RSS over the run, at most ~30 points (is it flat, or still growing at the end?)
            "rss_series_mb": {
                n: [
                    [round(s.at - first.at), round(s.rss[n], 1)]
                    for s in self.samples[:: max(1, len(self.samples) // 30)]
                    if n in s.rss
                ]
                for n in names
            },
            "redis_used_mb_max": round(max(redis), 2) if redis else None,
            "redis_used_mb_growth": round(redis[-1] - redis[0], 2) if redis else None,
            "sampled_s": round(wall, 1),
        }


def _cpu_used(samples: list[Sample], name: str) -> float:
    """CPU seconds used over the run, across restarts (a drop means a new process: add what it had)."""
    total, prev = 0.0, 0.0
    for s in samples:
        v = s.cpu.get(name)
        if v is None:
            continue
        total += v - prev if v >= prev else v
        prev = v
    return total


def scrape(url: str) -> dict[str, float]:
    """Prometheus text → {'name{labels}': value}; {} when the service does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[key] = float(value)
    return out


def total(metrics: dict[str, float], name: str, **labels: str) -> float:
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for k, v in metrics.items() if k.split("{")[0] == name and all(w in k for w in want))


@dataclass
class CounterTrack:
    """The services' Prometheus counters over a run, polled every few seconds so that a process
    that is killed and restarted (counters from 0 again) still counts what it had counted."""

    urls: dict[str, str]
    first: dict[str, dict[str, float]] = field(default_factory=dict)
    last: dict[str, dict[str, float]] = field(default_factory=dict)
    base: dict[str, dict[str, float]] = field(default_factory=dict)  # earlier processes' final values
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def poll(self) -> None:
        with self._lock:
            self._poll()

    def _poll(self) -> None:
        for svc, url in self.urls.items():
            m = scrape(url)
            if not m:
                continue
            prev = self.last.get(svc)
            if prev is None:
                self.first[svc] = m
            elif any(m.get(k, 0.0) < v for k, v in prev.items() if "_total" in k):
                base = self.base.setdefault(svc, {})
                for k, v in prev.items():
                    base[k] = base.get(k, 0.0) + v
            self.last[svc] = m

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.to_thread(self.poll)
            await asyncio.sleep(interval)

    def delta(self, svc_prefix: str, name: str, **labels: str) -> float:
        d = 0.0
        for svc, last in self.last.items():
            if svc.startswith(svc_prefix):
                b, f = self.base.get(svc, {}), self.first.get(svc, {})
                d += total(b, name, **labels) + total(last, name, **labels) - total(f, name, **labels)
        return d
