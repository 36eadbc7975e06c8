"""The master's side of a framework's event stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from mesospy.v1 import scheduler_pb2 as spb

_CLOSE = object()


class FrameworkStream:
    """Events queued for one subscribed framework, sent in batches.

    Handlers call ``send`` (never blocks); the Subscribe RPC iterates ``batches``, which
    yields everything queued so far as one ``Events`` message, and a HEARTBEAT when
    nothing happened for ``heartbeat_interval`` seconds.
    """

    def __init__(self, heartbeat_interval: float) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._heartbeat_interval = heartbeat_interval
        self.closed = False

    def send(self, event: spb.Event) -> None:
        if not self.closed:
            self._queue.put_nowait(event)

    def pending(self) -> int:
        """Events queued and not yet sent (a metric)."""
        return self._queue.qsize()

    def close(self, final: spb.Event | None = None) -> None:
        """End the stream, after ``final`` (e.g. an ERROR event) if given."""
        if self.closed:
            return
        if final is not None:
            self._queue.put_nowait(final)
        self._queue.put_nowait(_CLOSE)
        self.closed = True

    async def batches(self) -> AsyncIterator[spb.Events]:
        heartbeat = spb.Event(type=spb.Event.HEARTBEAT)
        while True:
            try:
                first = await asyncio.wait_for(self._queue.get(), self._heartbeat_interval)
            except TimeoutError:
                yield spb.Events(events=[heartbeat])
                continue
            events: list[spb.Event] = []
            item = first
            while True:
                if item is _CLOSE:
                    if events:
                        yield spb.Events(events=events)
                    return
                assert isinstance(item, spb.Event)
                events.append(item)
                if self._queue.empty():
                    break
                item = self._queue.get_nowait()
            yield spb.Events(events=events)
