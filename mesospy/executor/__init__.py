"""The executor SDK: implement an ``Executor``, run it with an ``ExecutorDriver``.

A framework's executor is a process the agent starts for the framework's tasks that
name it (``TaskInfo.executor``); it runs them as it likes (in threads, in-process work
items, children) and reports their states. Many small work items in one long-lived
process, fed by framework messages, cost a message each instead of a task launch::

    from mesospy.executor import Executor, ExecutorDriver
    from mesospy.v1 import common_pb2

    class Echo(Executor):
        def launch_task(self, driver, task):
            driver.send_status_update(task.task_id, common_pb2.TASK_RUNNING)

        def framework_message(self, driver, data):
            driver.send_framework_message(data.upper())

    ExecutorDriver(Echo()).run()   # reads MESOS_AGENT_ENDPOINT etc. from the environment

The scheduler's side: ``SchedulerDriver.send_framework_message`` and the scheduler's
``framework_message`` callback; ``SchedulerDriver.shutdown_executor`` stops it.
"""

from mesospy.executor.driver import ExecutorDriver, ExecutorEnvironmentError, new_status
from mesospy.executor.executor import Executor

__all__ = ["Executor", "ExecutorDriver", "ExecutorEnvironmentError", "new_status"]
