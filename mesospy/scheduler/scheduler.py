"""The callbacks a framework implements."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeAlias

from mesospy.v1 import common_pb2

if TYPE_CHECKING:
    from mesospy.scheduler.driver import SchedulerDriver

__all__ = ["MaybeAwaitable", "Scheduler"]

MaybeAwaitable: TypeAlias = Awaitable[None] | None
"""What a callback returns: nothing, or an awaitable (``async def`` callbacks)."""


class Scheduler:
    """Subclass this and override the callbacks you need; the others do nothing.

    The driver calls them one at a time, in event order, on its event loop. Each may be a
    plain method or ``async def`` (the driver awaits it before the next event, so keep them
    short and start background work with ``asyncio.create_task`` if needed). Calls on the
    driver (``launch``, ``decline``, ...) are queued and return at once.

    If a callback raises, the error is logged and the driver carries on; a ``status_update``
    that raised is not acknowledged, so the agent sends it again.
    """

    def subscribed(
        self, driver: SchedulerDriver, framework_id: str, master_info: common_pb2.MasterInfo
    ) -> MaybeAwaitable:
        """The master accepted the subscription (first time or after a reconnection)."""

    def offers(self, driver: SchedulerDriver, offers: list[common_pb2.Offer]) -> MaybeAwaitable:
        """New offers: launch tasks on them (``driver.launch``) or ``driver.decline`` them."""

    def rescinded(self, driver: SchedulerDriver, offer_id: str) -> MaybeAwaitable:
        """An offer is no longer valid; accepting it would fail."""

    def status_update(
        self, driver: SchedulerDriver, status: common_pb2.TaskStatus
    ) -> MaybeAwaitable:
        """A task changed state. Acknowledged after this returns, unless acks are explicit."""

    def failure(
        self, driver: SchedulerDriver, agent_id: str, executor_id: str, status: int | None
    ) -> MaybeAwaitable:
        """An agent was removed (``executor_id`` empty) or an executor exited."""

    def framework_message(
        self, driver: SchedulerDriver, executor_id: str, agent_id: str, data: bytes
    ) -> MaybeAwaitable:
        """Data one of the framework's executors sent (best effort, not acknowledged)."""

    def error(self, driver: SchedulerDriver, message: str) -> MaybeAwaitable:
        """The master rejected a call, or removed the framework (the driver then stops)."""

    def disconnected(self, driver: SchedulerDriver) -> MaybeAwaitable:
        """The connection to the master was lost; the driver is reconnecting."""

    def heartbeat(self, driver: SchedulerDriver) -> MaybeAwaitable:
        """The master is alive (sent every ``heartbeat_interval_seconds``)."""
