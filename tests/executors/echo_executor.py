"""A test executor (run by the agent): tasks run until told otherwise by messages.

Messages: ``finish:<task>`` -> TASK_FINISHED, ``fail:<task>`` -> TASK_FAILED,
``exit:<code>`` -> the process exits at once with that code, anything else is sent back
prefixed with ``echo:``. Kills and SHUTDOWN end tasks as TASK_KILLED. Every event's
name is appended to ``events`` in the sandbox.
"""

from __future__ import annotations

import os
import sys

from mesospy.executor import Executor, ExecutorDriver
from mesospy.v1 import common_pb2 as pb


class Echo(Executor):
    def __init__(self) -> None:
        self.running: set[str] = set()

    def _log(self, line: str) -> None:
        with open("events", "a") as f:
            f.write(line + "\n")

    def registered(self, driver, executor_info, framework_info, agent_id):  # type: ignore[no-untyped-def]
        self._log(f"registered {executor_info.executor_id} {agent_id} {os.getpid()}")

    def launch_task(self, driver: ExecutorDriver, task: pb.TaskInfo) -> None:
        self._log(f"launch {task.task_id}")
        self.running.add(task.task_id)
        driver.send_status_update(task.task_id, pb.TASK_RUNNING, "running in the executor")

    def kill_task(self, driver: ExecutorDriver, task_id: str) -> None:
        self._log(f"kill {task_id}")
        if task_id in self.running:
            self.running.discard(task_id)
            driver.send_status_update(task_id, pb.TASK_KILLED, "killed by the executor")

    def acknowledged(self, driver: ExecutorDriver, task_id: str, uuid: bytes) -> None:
        self._log(f"acknowledged {task_id}")

    def framework_message(self, driver: ExecutorDriver, data: bytes) -> None:
        verb, _, arg = data.decode().partition(":")
        if verb == "exit":
            os._exit(int(arg))
        if verb in ("finish", "fail") and arg in self.running:
            self.running.discard(arg)
            state = pb.TASK_FINISHED if verb == "finish" else pb.TASK_FAILED
            driver.send_status_update(arg, state, f"{verb} by message")
            return
        driver.send_framework_message(b"echo:" + data)

    def shutdown(self, driver: ExecutorDriver) -> None:
        self._log("shutdown")
        for task_id in sorted(self.running):
            driver.send_status_update(task_id, pb.TASK_KILLED, "executor shut down")
        self.running.clear()


if __name__ == "__main__":
    sys.exit(ExecutorDriver(Echo(), recovery_timeout=60).run())
