"""The batch framework's gRPC API (``frameworks.batch.v1.Batch``) over a ``BatchScheduler``.

Handlers run on the scheduler's event loop, so each sees and changes the state between
two scheduler callbacks, never in the middle of one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from kazoo.exceptions import KazooException

from frameworks.batch.jobs import JobRecord
from frameworks.batch.runs import Run
from frameworks.batch.schedule import next_tick
from frameworks.batch.scheduler import BatchScheduler, Conflict, JobNotFound
from frameworks.batch.spec import ENV_RE, SpecError
from frameworks.batch.v1 import batch_pb2 as bpb
from frameworks.batch.v1 import batch_pb2_grpc

__all__ = ["BatchService", "job_message", "run_message"]

T = TypeVar("T")
Context = grpc.aio.ServicerContext[Any, Any]
MAX_SPEC_BYTES = 1 << 20
_NAME_RE = re.compile(r"^[a-z0-9-]{1,63}$")


def run_message(run: Run, framework_id: str = "") -> bpb.Run:
    message = bpb.Run(
        job=run.job,
        id=run.id,
        state=run.state,
        trigger=run.trigger,
        scheduled_time=run.scheduled_time,
        created=run.created,
        started=run.started,
        finished=run.finished,
        message=run.message,
        params=run.params,
        framework_id=framework_id,
    )
    if run.exit_code is not None:
        message.exit_code = run.exit_code
    for instance in run.instances:
        item = message.instances.add(
            index=instance.index,
            state=instance.state,
            attempt=instance.attempt,
            failures=instance.failures,
            agent_id=instance.agent_id,
            started=instance.started,
            finished=instance.finished,
            message=instance.message,
            unplaced=instance.unplaced if instance.state == "WAITING" else "",
        )
        if instance.started:
            item.task_id = run.task_id(instance)
        if instance.exit_code is not None:
            item.exit_code = instance.exit_code
        for name, result in instance.containers.items():
            container = item.containers.add(
                name=name, state=result["state"], message=result["message"]
            )
            if result["exit_code"] is not None:
                container.exit_code = result["exit_code"]
    return message


def job_message(scheduler: BatchScheduler, record: JobRecord) -> bpb.Job:
    spec = record.spec
    history = scheduler.run_history(record.name)
    message = bpb.Job(
        name=record.name,
        spec_json=json.dumps(spec.to_dict(), sort_keys=True),
        suspended=record.suspended,
        parents=list(spec.parents),
        active_runs=sum(not r.final for r in history),
        total_runs=len(history),
        created=record.created,
        updated=record.updated,
        framework_id=scheduler.framework_id,
    )
    if spec.schedule is not None:
        message.schedule = f"{spec.schedule.text} ({spec.schedule.timezone})"
        if not record.suspended:
            after = max(record.last_tick, scheduler.clock())
            if (tick := next_tick(spec.schedule, after)) is not None:
                message.next_tick = tick
    if history:
        message.last_run.CopyFrom(run_message(history[-1], scheduler.framework_id))
    return message


def _check_name(name: str, what: str = "name") -> None:
    if not _NAME_RE.match(name):
        raise ValueError(f"{what} must be a job name ([a-z0-9-], 1-63 characters), not {name!r}")


class BatchService(batch_pb2_grpc.BatchServicer):
    """Translates requests into scheduler actions, and errors into gRPC statuses."""

    def __init__(self, scheduler: BatchScheduler) -> None:
        self.scheduler = scheduler

    async def _answer(self, context: Context, action: Callable[[], T]) -> T:
        try:
            result = action()
            await self.scheduler.commit()  # stored before the answer
            return result
        except SpecError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except ValueError as exc:
            code = (
                grpc.StatusCode.FAILED_PRECONDITION
                if isinstance(exc, Conflict)
                else grpc.StatusCode.INVALID_ARGUMENT
            )
            await context.abort(code, str(exc))
        except JobNotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc.args[0]))
        except (KazooException, OSError) as exc:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"the batch framework cannot reach its state store: {exc or type(exc).__name__}",
            )
        raise AssertionError("unreachable")  # abort raises

    async def SubmitJob(self, request: bpb.SubmitJobRequest, context: Context) -> bpb.Job:
        def submit() -> bpb.Job:
            if len(request.spec.encode()) > MAX_SPEC_BYTES:
                raise ValueError(f"the spec is larger than {MAX_SPEC_BYTES} bytes")
            record = self.scheduler.submit(request.spec)
            spec = record.spec
            if not request.no_run and spec.schedule is None and not spec.parents:
                self.scheduler.run_now(spec.name)
            return job_message(self.scheduler, record)

        return await self._answer(context, submit)

    async def ListJobs(
        self, request: bpb.ListJobsRequest, context: Context
    ) -> bpb.ListJobsResponse:
        def list_jobs() -> bpb.ListJobsResponse:
            records = sorted(self.scheduler.jobs.values(), key=lambda r: r.name)
            return bpb.ListJobsResponse(jobs=[job_message(self.scheduler, r) for r in records])

        return await self._answer(context, list_jobs)

    async def GetJob(self, request: bpb.GetJobRequest, context: Context) -> bpb.Job:
        def get() -> bpb.Job:
            _check_name(request.name)
            return job_message(self.scheduler, self.scheduler.job(request.name))

        return await self._answer(context, get)

    async def DeleteJob(
        self, request: bpb.DeleteJobRequest, context: Context
    ) -> bpb.DeleteJobResponse:
        def delete() -> bpb.DeleteJobResponse:
            _check_name(request.name)
            self.scheduler.delete(request.name)
            return bpb.DeleteJobResponse()

        return await self._answer(context, delete)

    async def SetSuspended(self, request: bpb.SetSuspendedRequest, context: Context) -> bpb.Job:
        def set_suspended() -> bpb.Job:
            _check_name(request.name)
            record = self.scheduler.set_suspended(request.name, request.suspended)
            return job_message(self.scheduler, record)

        return await self._answer(context, set_suspended)

    async def RunJob(self, request: bpb.RunJobRequest, context: Context) -> bpb.Run:
        def run() -> bpb.Run:
            _check_name(request.name)
            for key in request.params:
                if not ENV_RE.match(key):
                    raise ValueError(
                        f"parameter {key!r} is not a valid environment variable name "
                        "(letters, digits and _, not starting with a digit)"
                    )
            started = self.scheduler.run_now(request.name, dict(request.params))
            return run_message(started, self.scheduler.framework_id)

        return await self._answer(context, run)

    async def ListRuns(
        self, request: bpb.ListRunsRequest, context: Context
    ) -> bpb.ListRunsResponse:
        def list_runs() -> bpb.ListRunsResponse:
            _check_name(request.name)
            fid = self.scheduler.framework_id
            runs = self.scheduler.run_history(request.name)
            return bpb.ListRunsResponse(runs=[run_message(r, fid) for r in runs])

        return await self._answer(context, list_runs)

    async def GetRun(self, request: bpb.GetRunRequest, context: Context) -> bpb.Run:
        def get_run() -> bpb.Run:
            _check_name(request.name)
            run = self.scheduler.get_run(request.name, request.run_id)
            return run_message(run, self.scheduler.framework_id)

        return await self._answer(context, get_run)

    async def CancelRun(self, request: bpb.CancelRunRequest, context: Context) -> bpb.Run:
        def cancel() -> bpb.Run:
            _check_name(request.name)
            runs = self.scheduler.cancel(request.name, request.run_id)
            if not runs:
                raise JobNotFound(f"job {request.name!r} has no active run to cancel")
            return run_message(runs[-1], self.scheduler.framework_id)

        return await self._answer(context, cancel)
