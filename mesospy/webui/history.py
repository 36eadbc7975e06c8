"""The overview chart's last hour: a bounded ring of samples the master takes itself.

Every ``INTERVAL`` seconds (while it leads) the master notes the share of the cluster's
cpus and mem that is allocated (used by tasks or offered, as Mesos counts it) and how many
tasks were launched and ended per second since the sample before. ``HOURS_SAMPLES`` of
them are kept, so a dashboard opened now draws the whole hour at once and then asks only
for the samples it lacks. A sample costs a few sums over the allocator's role totals and
two counters: nothing per task or agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mesospy.master.master import Master

INTERVAL = 10.0  # seconds between samples
HOUR_SAMPLES = 360  # an hour of them


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the epoch
    cpus: float  # allocated share, 0..1
    mem: float
    launched: float  # tasks launched per second since the sample before
    ended: float  # tasks that reached a terminal state per second


@dataclass
class Counts:
    """What one sample reads off the master."""

    t: float
    cpus_allocated: float
    cpus_total: float
    mem_allocated: float
    mem_total: float
    launched: int
    ended: int


def next_sample(before: Counts | None, now: Counts) -> Sample:
    """The sample between two readings (the first reading has no rate yet). Pure."""

    def share(used: float, total: float) -> float:
        return min(1.0, used / total) if total > 0 else 0.0

    launched = ended = 0.0
    if before is not None and now.t > before.t:
        seconds = now.t - before.t
        # A new leader's counters start again at 0: no negative rate.
        launched = max(0, now.launched - before.launched) / seconds
        ended = max(0, now.ended - before.ended) / seconds
    return Sample(
        round(now.t, 3),
        round(share(now.cpus_allocated, now.cpus_total), 4),
        round(share(now.mem_allocated, now.mem_total), 4),
        round(launched, 3),
        round(ended, 3),
    )


class History:
    """The last hour of samples of one master."""

    def __init__(self, master: Master, interval: float = INTERVAL) -> None:
        self.m = master
        self.interval = interval
        self.samples: deque[Sample] = deque(maxlen=HOUR_SAMPLES)
        self._before: Counts | None = None
        self._task: asyncio.Task[None] | None = None

    def read(self) -> Counts:
        allocator = self.m.allocator
        total, allocated = allocator.cluster_total(), allocator.allocated_total()
        return Counts(
            time.time(),
            allocated.scalar("cpus"),
            total.scalar("cpus"),
            allocated.scalar("mem"),
            total.scalar("mem"),
            self.m.tasks.launched,
            self.m.tasks.ended,
        )

    def take(self) -> Sample:
        now = self.read()
        sample = next_sample(self._before, now)
        self._before = now
        self.samples.append(sample)
        return sample

    def since(self, t: float) -> list[dict[str, Any]]:
        """The samples newer than ``t`` (0: all), oldest first, as JSON."""
        return [asdict(s) for s in self.samples if s.t > t]

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="webui-history")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        # A standby samples nothing and does not wake: its counters mean nothing. A master
        # that loses the leadership exits, so sampling ends with it.
        await self.m.led.wait()
        while self.m.leading:
            self.take()
            await asyncio.sleep(self.interval)
        self._before = None
        self.samples.clear()
