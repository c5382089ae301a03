"""Whether tests can make network namespaces here: root, `ip netns`, and a probe namespace whose
links can be set up (in a chroot `ip netns add` may succeed while `ip -n NS link ...` fails)."""

from __future__ import annotations

import os
import shutil
import subprocess


def netns_skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces (ip netns); CI runs as root"
    if not shutil.which("ip") or subprocess.run(["ip", "netns", "list"], capture_output=True).returncode:
        return "`ip netns` is unavailable (apt-get install iproute2)"
    probe = f"parley-probe-{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode:
        return "network namespaces cannot be created here"
    try:
        for step in (["link", "set", "lo", "up"], ["link", "add", "br-probe", "type", "bridge"]):
            if subprocess.run(["ip", "-n", probe, *step], capture_output=True).returncode:
                return (
                    "network namespaces cannot be set up here (`ip -n NS link ...` fails, e.g. in a chroot)"
                )
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None
