"""A job as the framework keeps it: its spec and the progress of its schedule and parents."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from frameworks.batch.spec import JobSpec, parse_spec

__all__ = ["JobRecord", "child_run_id", "manual_run_id", "scheduled_run_id"]


@dataclass
class JobRecord:
    """A job: its spec, whether its schedule is suspended, the last cron tick handled,
    and which parents have succeeded since its last run triggered by them."""

    spec: JobSpec
    created: float
    updated: float
    suspended: bool = False
    last_tick: float = 0.0
    waiting: dict[str, str] = field(default_factory=dict)  # parent -> its successful run

    @property
    def name(self) -> str:
        return self.spec.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "created": self.created,
            "updated": self.updated,
            "suspended": self.suspended,
            "last_tick": self.last_tick,
            "waiting": dict(self.waiting),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobRecord:
        return cls(
            parse_spec(data["spec"]),
            float(data["created"]),
            float(data["updated"]),
            bool(data.get("suspended", False)),
            float(data.get("last_tick", 0.0)),
            dict(data.get("waiting", {})),
        )


def _stamp(when: float, millis: bool = False) -> str:
    moment = dt.datetime.fromtimestamp(when, dt.UTC)
    text = moment.strftime("%Y%m%dT%H%M%S")
    if millis:
        text += f"{moment.microsecond // 1000:03d}"
    return text + "Z"


def scheduled_run_id(tick: float) -> str:
    """The run of a cron tick: ``s20260301T023000Z`` (one id per tick: exactly once)."""
    return "s" + _stamp(tick)


def manual_run_id(now: float, taken: Mapping[str, object]) -> str:
    """A run started by hand: ``m20260301T023000123Z`` (made unique among ``taken``)."""
    base = "m" + _stamp(now, millis=True)
    run_id, suffix = base, 1
    while run_id in taken:
        run_id, suffix = f"{base}-{suffix}", suffix + 1
    return run_id


def child_run_id(parent_runs: Mapping[str, str]) -> str:
    """The run of a child job started by its parents' runs (the same runs: the same id)."""
    key = ",".join(f"{job}={run}" for job, run in sorted(parent_runs.items()))
    return "p" + hashlib.sha256(key.encode()).hexdigest()[:16]
