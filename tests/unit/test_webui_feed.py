"""The dashboards' feed on a real (in-process) master: it subscribes to the event bus
while a dashboard is open and lingers a while after the last one closes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from mesospy.master.config import MasterConfig
from mesospy.master.master import Master
from mesospy.master.registry import LocalRegistry
from mesospy.webui.feed import Feed


async def _turns_until(done: Callable[[], bool], turns: int = 100) -> None:
    for _ in range(turns):
        if done():
            return
        await asyncio.sleep(0)  # one turn of the loop: the 0 s timer is due in the next


def test_the_feed_lingers_after_the_last_dashboard_then_unsubscribes(tmp_path: Path) -> None:
    async def scenario() -> None:
        master = Master(MasterConfig(work_dir=tmp_path), LocalRegistry(tmp_path / "registry"))
        await master.start()
        try:
            feed = Feed(master)
            first = feed.join()
            assert master.events.subscribers == 1
            feed.leave(first)
            # Lingering: the next dashboard finds the index, and no second subscriber.
            subscriber = feed._subscriber
            assert subscriber is not None and master.events.subscribers == 1
            second = feed.join()
            assert feed._subscriber is subscriber and master.events.subscribers == 1
            feed.linger = 0.0
            feed.leave(second)
            await _turns_until(lambda: master.events.subscribers == 0)
            assert master.events.subscribers == 0 and feed._subscriber is None
            # A dashboard opened afterwards starts the feed afresh.
            third = feed.join()
            assert master.events.subscribers == 1
            await feed.close()
            assert master.events.subscribers == 0
            assert third.queue.qsize() == 2  # its snapshot, then the end of its stream
        finally:
            await master.stop()

    asyncio.run(scenario())
