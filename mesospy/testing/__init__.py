"""Harnesses for testing frameworks against a real local cluster.

``LocalCluster`` starts a real master and agents on loopback; ``FrameworkHarness`` runs a
``TaskQueueScheduler`` (launches queued tasks on offers as they fit, records every event)
in a background thread so a plain pytest test can submit tasks and wait for outcomes.
``FileServer`` serves files over HTTP on loopback, counting requests (for fetch tests).
``python_executor`` runs an ``Executor`` class of yours as a real executor process.
"""

from mesospy.cluster import ClusterError, LocalCluster, free_port
from mesospy.testing.executors import python_executor
from mesospy.testing.file_server import FileServer
from mesospy.testing.framework import FrameworkHarness, TaskQueueScheduler

__all__ = [
    "ClusterError",
    "FileServer",
    "FrameworkHarness",
    "LocalCluster",
    "TaskQueueScheduler",
    "free_port",
    "python_executor",
]
