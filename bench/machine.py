"""What every benchmark prints about the machine it ran on, and the raw spawn-rate anchor."""

from __future__ import annotations

import os
import platform
import subprocess
import time

__all__ = ["describe", "spawn_rate"]


def describe() -> str:
    """One line: cpu model, cores, Python."""
    model = "unknown cpu"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def spawn_rate(seconds: float = 2.0, window: int = 16) -> float:
    """Processes per second that Python's subprocess can spawn and reap running `sh -c true`,
    keeping up to `window` alive at once: the physical ceiling for task throughput here."""
    done, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        batch = [
            subprocess.Popen(["sh", "-c", "true"], stdin=subprocess.DEVNULL) for _ in range(window)
        ]
        for process in batch:
            process.wait()
        done += len(batch)
    return done / (time.perf_counter() - start)
