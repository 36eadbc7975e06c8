"""The callbacks an executor implements."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mesospy.scheduler.scheduler import MaybeAwaitable
from mesospy.v1 import common_pb2

if TYPE_CHECKING:
    from mesospy.executor.driver import ExecutorDriver

__all__ = ["Executor"]


class Executor:
    """Subclass this and override the callbacks you need; the others do nothing.

    The driver calls them one at a time, in event order, on its event loop. Each may be a
    plain method or ``async def`` (awaited before the next event: keep them short, and
    start long work with ``asyncio.create_task`` or a thread). Calls on the driver
    (``send_status_update``, ``send_framework_message``) are queued and return at once.
    A callback that raises is logged and the driver carries on.
    """

    def registered(
        self,
        driver: ExecutorDriver,
        executor_info: common_pb2.ExecutorInfo,
        framework_info: common_pb2.FrameworkInfo,
        agent_id: str,
    ) -> MaybeAwaitable:
        """The agent accepted the subscription (first time or after a reconnection)."""

    def launch_task(self, driver: ExecutorDriver, task: common_pb2.TaskInfo) -> MaybeAwaitable:
        """Run ``task``: report TASK_RUNNING, then its end, with ``send_status_update``."""

    def launch_group(
        self, driver: ExecutorDriver, tasks: list[common_pb2.TaskInfo]
    ) -> MaybeAwaitable:
        """Run a task group (all or none). By default each task is launched in turn."""
        for task in tasks:
            self.launch_task(driver, task)
        return None

    def kill_task(self, driver: ExecutorDriver, task_id: str) -> MaybeAwaitable:
        """Stop a task and report TASK_KILLED (the scheduler asked for it)."""

    def acknowledged(self, driver: ExecutorDriver, task_id: str, uuid: bytes) -> MaybeAwaitable:
        """The scheduler acknowledged the update ``uuid`` of ``task_id``."""

    def framework_message(self, driver: ExecutorDriver, data: bytes) -> MaybeAwaitable:
        """Data the scheduler sent (``SchedulerDriver.send_framework_message``)."""

    def shutdown(self, driver: ExecutorDriver) -> MaybeAwaitable:
        """End every task (report their ends); the driver stops after this returns, and
        the agent kills the process after its shutdown grace period."""

    def error(self, driver: ExecutorDriver, message: str) -> MaybeAwaitable:
        """The agent refused a call, or the driver cannot go on (it then stops)."""
