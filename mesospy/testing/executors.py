"""Run an ``Executor`` class of your own on a real cluster, without writing its main.

``python_executor("my-exec", "mypkg.worker:Worker")`` is an ExecutorInfo whose command is
``python -m mesospy.testing.executors mypkg.worker:Worker``: the agent starts it, and it
runs ``ExecutorDriver(Worker()).run()``. The executor process gets this interpreter, this
mesospy and the test process's import path (so a class in the test tree is found)::

    from mesospy.scheduler import executor_task
    from mesospy.testing import FrameworkHarness, python_executor

    info = python_executor("worker", "tests.mine.worker:Worker")
    harness.submit([executor_task("t1", info, "cpus:0.1;mem:32")])
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import mesospy
from mesospy.resources import Resources
from mesospy.scheduler import executor
from mesospy.v1 import common_pb2

__all__ = ["python_executor", "run_target"]


def python_executor(
    executor_id: str,
    target: str,
    resources: str | Resources | Iterable[common_pb2.Resource] = "cpus:0.1;mem:64",
    *,
    env: Mapping[str, str] | None = None,
    path: Iterable[str] | None = None,
) -> common_pb2.ExecutorInfo:
    """An ExecutorInfo running the ``Executor`` subclass ``target`` ("module:Class").
    ``path``: where the executor imports from (default: mesospy's root and this
    process's ``sys.path``)."""
    if ":" not in target:
        raise ValueError(f"target {target!r} is not 'module:Class'")
    roots = (
        list(path)
        if path is not None
        else [
            str(Path(mesospy.__file__).resolve().parents[1]),
            *(p for p in sys.path if p),
        ]
    )
    variables = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(roots))}
    variables.update(env or {})
    return executor(
        executor_id,
        [sys.executable, "-m", "mesospy.testing.executors", target],
        resources,
        env=variables,
    )


def run_target(target: str) -> int:
    """Import "module:Class", and run it with an ExecutorDriver until it stops."""
    from mesospy.executor import ExecutorDriver

    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return ExecutorDriver(cls()).run()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m mesospy.testing.executors module:Class")
    sys.exit(run_target(sys.argv[1]))
