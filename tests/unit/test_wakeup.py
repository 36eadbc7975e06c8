"""wait_event: an event wait with a timeout that never swallows a cancellation."""

from __future__ import annotations

import asyncio

from mesospy.wakeup import wait_event


def test_times_out_or_sees_the_event() -> None:
    async def main() -> None:
        event = asyncio.Event()
        assert await wait_event(event, 0.01) is False
        asyncio.get_running_loop().call_later(0.01, event.set)
        assert await wait_event(event, None) is True
        assert await wait_event(event, 0) is True

    asyncio.run(main())


def test_a_cancellation_as_the_event_is_set_stops_a_waking_loop() -> None:
    # asyncio.wait_for (Python < 3.12) returned normally here and the loop went on forever.
    async def main() -> None:
        event = asyncio.Event()
        rounds = 0

        async def wake_loop() -> None:
            nonlocal rounds
            while True:
                await wait_event(event, 3600)
                event.clear()
                rounds += 1

        for _ in range(20):
            event.clear()
            loop_task = asyncio.ensure_future(wake_loop())
            await asyncio.sleep(0)  # it waits now
            event.set()
            loop_task.cancel()
            done, _ = await asyncio.wait({loop_task}, timeout=30)
            assert done and loop_task.cancelled()
        assert rounds == 0

    asyncio.run(main())
