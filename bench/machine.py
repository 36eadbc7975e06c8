"""What every benchmark prints about the machine it ran on, and the raw spawn-rate anchor."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

__all__ = ["describe", "file_system", "py_spy", "spawn_rate"]


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


def file_system(path: str) -> str:
    """The file system holding ``path``: type, device and mount point, and for ext4
    whether it keeps a journal (without one, every new inode pays a walk over the inodes
    freed in the last 30 s: task sandboxes cost several times more there)."""
    real = os.path.realpath(path)
    best = ("", "?", "?")
    try:
        with open("/proc/mounts") as f:
            for line in f:
                device, mount, kind = line.split()[:3]
                inside = real == mount or real.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best[0]):
                    best = (mount, device, kind)
    except OSError:
        return "unknown file system"
    mount, device, kind = best
    text = f"{kind} on {device} at {mount}"
    if kind == "ext4":
        # A journal shows as /proc/fs/jbd2/<device>-<n>.
        name = os.path.basename(device) + "-"
        try:
            journaled = any(entry.startswith(name) for entry in os.listdir("/proc/fs/jbd2"))
        except OSError:
            journaled = False
        text += ", journal" if journaled else ", NO journal"
    return text


def py_spy(pid: int, out: str) -> subprocess.Popen[bytes]:
    """Start py-spy sampling process ``pid`` (GIL-holding stacks, flat "raw" format) into
    the file ``out``; SIGINT makes it write the profile and exit."""
    return subprocess.Popen(
        ["py-spy", "record", "--gil", "-r", "200", "-f", "raw", "-o", out, "-p", str(pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


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


def report(
    bench: str, rows: list[tuple[str, str, str]], figures: dict[str, object], summary: str
) -> int:
    """Print a benchmark's table, its one-line summary beside the anchor, any wrong results
    (on stderr) and the JSON line of figures; the exit code: 1 if anything was wrong."""
    width = max(len(name) for name, _, _ in rows)
    for name, value, target in rows:
        print(f"{name:<{width}} {value:>14}   {target}")
    print(f"during the run: {figures['load_before']} -> {figures['load_after']}")
    print(summary)
    wrong = list(figures["wrong"])  # type: ignore[call-overload]
    for line in wrong:
        print(f"WRONG: {line}", file=sys.stderr)
    print(json.dumps({"bench": bench, "machine": describe(), **figures, "correct": not wrong}))
    return 1 if wrong else 0
