"""The framework SDK: implement a ``Scheduler``, run it with a ``SchedulerDriver``.

::

    from mesospy.scheduler import Scheduler, SchedulerDriver, task

    class Hello(Scheduler):
        def offers(self, driver, offers):
            for offer in offers:
                driver.launch(offer.id, [task("t1", "echo hello", "cpus:0.1;mem:32")])

    SchedulerDriver(Hello(), FrameworkInfo(name="hello")).run()

Keep state across restarts (framework id, jobs, tasks) with ``open_store(--state)``
(``mesospy.scheduler.state``). See ``examples/README.md`` for a walk-through.
"""

from mesospy.scheduler import calls
from mesospy.scheduler.artifacts import Artifact, parse_fetch, uri
from mesospy.scheduler.backoff import Backoff
from mesospy.scheduler.containers import ContainerSpec, parse_container
from mesospy.scheduler.driver import SchedulerDriver
from mesospy.scheduler.errors import (
    CallRejected,
    DriverStopped,
    FrameworkRemoved,
    InvalidCall,
    MasterUnavailable,
    MesospyError,
    NotFound,
    PreconditionFailed,
)
from mesospy.scheduler.scheduler import MaybeAwaitable, Scheduler
from mesospy.scheduler.state import DocumentTooLarge, StateStore, open_store
from mesospy.scheduler.tasks import (
    TERMINAL_STATES,
    default_executor,
    executor,
    executor_task,
    how_many_fit,
    is_terminal,
    offer_resources,
    state_name,
    task,
)

__all__ = [
    "TERMINAL_STATES",
    "Artifact",
    "Backoff",
    "CallRejected",
    "ContainerSpec",
    "DocumentTooLarge",
    "DriverStopped",
    "FrameworkRemoved",
    "InvalidCall",
    "MasterUnavailable",
    "MaybeAwaitable",
    "MesospyError",
    "NotFound",
    "PreconditionFailed",
    "Scheduler",
    "SchedulerDriver",
    "StateStore",
    "calls",
    "default_executor",
    "executor",
    "executor_task",
    "how_many_fit",
    "is_terminal",
    "offer_resources",
    "open_store",
    "parse_container",
    "parse_fetch",
    "state_name",
    "task",
    "uri",
]
