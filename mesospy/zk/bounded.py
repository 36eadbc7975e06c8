"""Blocking ZooKeeper work on the way out, bounded in time.

A kazoo call made while ZooKeeper is frozen or gone waits until the server answers,
however long that takes; ``client.stop()`` on a frozen server waits for it too. Run in
``asyncio.to_thread``, such a call would also hold the process at exit (asyncio joins its
executor's threads). ``run_bounded`` runs the work in a daemon thread instead and gives up
waiting after ``seconds``: the process goes on stopping, and the thread dies with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

__all__ = ["run_bounded"]


async def run_bounded(work: Callable[[], object], seconds: float, what: str) -> bool:
    """Run ``work`` in a daemon thread; True if it finished within ``seconds`` (an
    exception it raises is logged, not raised: this is best-effort cleanup)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def finished() -> None:
        if not done.done():
            done.set_result(None)

    def run() -> None:
        try:
            work()
        except Exception as exc:
            log.info("%s failed: %r", what, exc)
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(finished)

    threading.Thread(target=run, name=what, daemon=True).start()
    try:
        await asyncio.wait_for(asyncio.shield(done), seconds)
    except TimeoutError:
        log.warning("%s: no answer from ZooKeeper in %.1f s; going on without it", what, seconds)
        return False
    return True
