"""Measure this machine's resources, the way a Mesos agent does without --resources."""

from __future__ import annotations

import os
import shutil

import psutil

DEFAULT_PORTS = "[31000-32000]"
_GB = 1024  # in MB


def _reserve(total_mb: int) -> int:
    """What the agent keeps back for the system: 1 GB, or half of a machine under 2 GB."""
    return total_mb // 2 if total_mb < 2 * _GB else _GB


def measured_resources(work_dir: str) -> dict[str, str]:
    """cpus, mem, disk (MB, after the reserve) and the default ports, as resource text values."""
    cpus = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    mem_total = psutil.virtual_memory().total // (1024 * 1024)
    os.makedirs(work_dir, exist_ok=True)
    disk_free = shutil.disk_usage(work_dir).free // (1024 * 1024)
    return {
        "cpus": str(cpus),
        "mem": str(max(mem_total - _reserve(mem_total), 0)),
        "disk": str(max(disk_free - _reserve(disk_free), 0)),
        "ports": DEFAULT_PORTS,
    }


def _resource_name(part: str) -> str:
    # "cpus(role):2" and "cpus:2" both name "cpus".
    return part.split(":", 1)[0].split("(", 1)[0].strip()


def resource_text(given: str | None, work_dir: str) -> str:
    """The agent's full resource text: what the operator gave, plus measured values for
    cpus, mem, disk and ports when the operator did not name them."""
    parts = [p.strip() for p in (given or "").split(";") if p.strip()]
    named = {_resource_name(p) for p in parts}
    for name, value in measured_resources(work_dir).items():
        if name not in named:
            parts.append(f"{name}:{value}")
    return ";".join(parts)
